package demo

import (
	"fmt"
	"math/rand/v2"

	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/examples/payments"
)

// Message is one logical message of the workload: a shipment-completed fact for
// invoicing, or a payments command. It travels to worker processes as JSON.
type Message struct {
	// Seq is the message's index in the workload.
	Seq int `json:"seq"`
	// CommandID is the idempotency key the sender put on the message. For a
	// shipment it is the message id of its path.
	CommandID string `json:"id"`
	// Shipment is set for invoicing messages.
	Shipment *invoicing.ShipmentCompleted `json:"shipment,omitempty"`
	// PaymentID and one of the payment fields are set for payments commands.
	PaymentID string              `json:"payment,omitempty"`
	Authorize *payments.Authorize `json:"authorize,omitempty"`
	Capture   *payments.Capture   `json:"capture,omitempty"`
	Refund    *payments.Refund    `json:"refund,omitempty"`
	Void      *payments.Void      `json:"void,omitempty"`
	// Planted marks the messages made to break a rule on purpose: "key-reuse"
	// (a command id sent again with another payload, delivered after the original
	// was handled) and "over-refund" (a refund of more than was captured).
	Planted string `json:"planted,omitempty"`
}

// Payload returns the payments command the message carries, or nil.
func (m Message) Payload() payments.Command {
	switch {
	case m.Authorize != nil:
		return *m.Authorize
	case m.Capture != nil:
		return *m.Capture
	case m.Refund != nil:
		return *m.Refund
	case m.Void != nil:
		return *m.Void
	}
	return nil
}

// Workload is a seeded list of messages and the outcome they must lead to.
type Workload struct {
	// Messages are delivered in the main phase; Late after every main message was
	// acknowledged (the planted key reuses: a client that retries long after with a
	// changed payload).
	Messages []Message
	Late     []Message
	// Expected is the business outcome of handling every message once.
	Expected Expected
	// Counts of what was generated.
	Shipments, ShipmentsTwoPaths, Payments, WebhookCopies, OverRefunds int
}

// Expected is the outcome the workload must reach, computed as if every message
// were handled exactly once, in order.
type Expected struct {
	// Shipments maps each fiscal reference to the invoice it must get.
	Shipments map[string]invoicing.ShipmentCompleted
	// Payments maps each payment id to its final state.
	Payments map[string]ExpectedPayment
	// Revenue is the expected revenue-totals read model.
	Revenue map[string]RevenueRow
	// Customers is the expected invoices-per-customer read model.
	Customers map[string]CustomerRow
}

// ExpectedPayment is a payment's expected final state.
type ExpectedPayment struct {
	Authorized, Captured, Refunded int64
	Currency                       string
	Voided                         bool
	Captures, Refunds              int
}

// RevenueRow is one row of the revenue-totals read model, per currency.
type RevenueRow struct {
	Currency           string
	Invoices, Invoiced int64
}

// CustomerRow is one row of the invoices-per-customer read model.
type CustomerRow struct {
	Customer string
	Invoices int64
	Amount   int64
}

var currencies = []string{"EUR", "USD", "GBP"}

// Generate makes a workload of about n messages from seed: roughly 60% shipment
// messages (a share of them sent twice, by two paths) and 40% payments commands
// (authorize, captures, refunds, voids, provider webhooks that repeat a capture
// under another command id, and a few refunds of more than was captured).
// keyReuse is the share of messages re-sent later with the same id and another
// payload.
func Generate(seed uint64, n int, twoPathRate, keyReuse float64) Workload {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := Workload{Expected: Expected{
		Shipments: map[string]invoicing.ShipmentCompleted{},
		Payments:  map[string]ExpectedPayment{},
		Revenue:   map[string]RevenueRow{},
		Customers: map[string]CustomerRow{},
	}}
	customers := max(n/100, 5)
	// Key reuses are planted on payments commands whose id is sure to be recorded
	// once handled. shared holds the messages whose business fact has a second
	// sender (a webhook copy): whichever is handled first records its command id.
	// Shipments are left out: a renumbered invoice is recorded under the id of its
	// attempt (ShipmentCompleted.CommandID).
	shared := map[int]bool{}
	add := func(m Message) {
		m.Seq = len(w.Messages)
		w.Messages = append(w.Messages, m)
	}
	for len(w.Messages) < n {
		c := rng.IntN(customers)
		customer := fmt.Sprintf("customer-%03d", c)
		currency := currencies[c%len(currencies)]
		if rng.Float64() < 0.6 {
			w.Shipments++
			ref := fmt.Sprintf("FSR-%d-%06d", seed%1000, w.Shipments)
			s := invoicing.ShipmentCompleted{
				MessageID: fmt.Sprintf("warehouse-%06d", w.Shipments), ShipmentRef: ref,
				Customer: customer, Amount: 1000 + rng.Int64N(99_000), Currency: currency,
			}
			add(Message{CommandID: s.MessageID, Shipment: &s})
			if rng.Float64() < twoPathRate {
				w.ShipmentsTwoPaths++
				s2 := s
				s2.MessageID = fmt.Sprintf("carrier-%06d", w.Shipments)
				shared[len(w.Messages)-1] = true
				shared[len(w.Messages)] = true
				add(Message{CommandID: s2.MessageID, Shipment: &s2})
			}
			w.Expected.Shipments[ref] = s
			rev := w.Expected.Revenue[currency]
			rev.Currency = currency
			rev.Invoices++
			rev.Invoiced += s.Amount
			w.Expected.Revenue[currency] = rev
			cr := w.Expected.Customers[customer]
			cr.Customer = customer
			cr.Invoices++
			cr.Amount += s.Amount
			w.Expected.Customers[customer] = cr
			continue
		}
		w.Payments++
		w.generatePayment(rng, add, shared, fmt.Sprintf("pay-%06d", w.Payments), customer, currency)
	}
	for _, m := range w.Messages {
		if m.Planted == "" && m.Shipment == nil && !shared[m.Seq] && rng.Float64() < keyReuse {
			w.Late = append(w.Late, changed(m))
		}
	}
	return w
}

// generatePayment adds the commands of one payment and its expected outcome.
func (w *Workload) generatePayment(rng *rand.Rand, add func(Message), shared map[int]bool, id, customer, currency string) {
	exp := ExpectedPayment{Currency: currency, Authorized: 10_000 + rng.Int64N(90_000)}
	add(Message{CommandID: id + "/authorize", PaymentID: id,
		Authorize: &payments.Authorize{Customer: customer, Amount: exp.Authorized, Currency: currency}})
	if rng.Float64() < 0.15 {
		exp.Voided = true
		add(Message{CommandID: id + "/void", PaymentID: id, Void: &payments.Void{Reason: "order cancelled"}})
		w.Expected.Payments[id] = exp
		return
	}
	left := exp.Authorized
	for k := range 1 + rng.IntN(3) {
		amount := min(left, 1000+rng.Int64N(exp.Authorized/2))
		if amount <= 0 {
			break
		}
		left -= amount
		ref := fmt.Sprintf("cap-%s-%d", id[4:], k+1)
		add(Message{CommandID: id + "/capture/" + ref, PaymentID: id, Capture: &payments.Capture{Reference: ref, Amount: amount}})
		if rng.Float64() < 0.1 {
			// The provider's webhook reports the same capture under its own id.
			w.WebhookCopies++
			shared[len(w.Messages)-1] = true
			shared[len(w.Messages)] = true
			add(Message{CommandID: "webhook/" + ref, PaymentID: id, Capture: &payments.Capture{Reference: ref, Amount: amount}})
		}
		exp.Captured += amount
		exp.Captures++
	}
	refundable := exp.Captured
	for k := range rng.IntN(3) {
		amount := min(refundable, 500+rng.Int64N(exp.Captured/2+1))
		if amount <= 0 {
			break
		}
		refundable -= amount
		ref := fmt.Sprintf("ref-%s-%d", id[4:], k+1)
		add(Message{CommandID: id + "/refund/" + ref, PaymentID: id, Refund: &payments.Refund{Reference: ref, Amount: amount}})
		exp.Refunded += amount
		exp.Refunds++
	}
	if rng.Float64() < 0.03 {
		w.OverRefunds++
		ref := fmt.Sprintf("ref-%s-over", id[4:])
		add(Message{CommandID: id + "/refund/" + ref, PaymentID: id, Planted: "over-refund",
			Refund: &payments.Refund{Reference: ref, Amount: exp.Captured + 1}})
	}
	w.Expected.Payments[id] = exp
}

// changed returns m with the same command id and another payload: a misused
// idempotency key.
func changed(m Message) Message {
	m.Planted = "key-reuse"
	switch {
	case m.Shipment != nil:
		s := *m.Shipment
		s.Amount++
		m.Shipment = &s
	case m.Authorize != nil:
		a := *m.Authorize
		a.Amount++
		m.Authorize = &a
	case m.Capture != nil:
		c := *m.Capture
		c.Amount++
		m.Capture = &c
	case m.Refund != nil:
		r := *m.Refund
		r.Amount++
		m.Refund = &r
	case m.Void != nil:
		v := *m.Void
		v.Reason += " (changed)"
		m.Void = &v
	}
	return m
}
