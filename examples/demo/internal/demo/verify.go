package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/examples/payments"
	"github.com/idemkit/idem/reservation"
)

// maxListed caps the violations listed per invariant.
const maxListed = 5

// verify reads the whole event store and checks every invariant of the run,
// recording what it found in rep (Checks and Violations).
func verify(ctx context.Context, cfg Config, store eventstore.Store, wl Workload, all []Message, rep *Report) error {
	reservations, err := reservation.New(store)
	if err != nil {
		return err
	}
	l, err := readLedger(ctx, store, rep)
	if err != nil {
		return err
	}
	rep.DistinctRefs = len(wl.Expected.Shipments)
	rep.CommandsRecorded = len(l.byCommand)
	l.checkInvoices(wl, rep)
	if err := l.checkNumbers(ctx, reservations, rep); err != nil {
		return err
	}
	l.checkPayments(wl, rep)
	l.checkCommands(rep)
	checkPlanted(cfg, all, rep)
	l.checkMail(rep)
	// Read models: live == rebuilt == what the workload implies (G8, G9).
	want := ReadModels{Customers: wl.Expected.Customers, Revenue: wl.Expected.Revenue}
	if !rep.Live.Equal(want) {
		rep.violate("live read models", "live read models differ from the workload's outcome: %s", diff(rep.Live, want))
	}
	if !rep.Rebuilt.Equal(rep.Live) {
		rep.violate("live == rebuilt", "rebuilt read models differ from the live ones: %s", diff(rep.Rebuilt, rep.Live))
	}
	return nil
}

// cmdEvent is where one event of a command was recorded.
type cmdEvent struct {
	stream       string
	index, count int
}

// ledger is what verify gathers from the whole log.
type ledger struct {
	codec      *aggregate.Codec[payments.Command, payments.Event]
	byCommand  map[string][]cmdEvent
	invoices   map[string][]invoicing.InvoiceIssued // by shipment reference
	numbers    map[string][]string                  // number -> shipment references
	writers    map[string]string                    // number -> command id that wrote its (first) invoice
	invoiceIDs map[string]string                    // event id -> invoice number
	pays       map[string]payments.State            // by payment id
}

// readLedger reads the whole log into a ledger, counting events and invoices in
// rep.
func readLedger(ctx context.Context, store eventstore.Store, rep *Report) (*ledger, error) {
	codec, err := payments.NewCodec()
	if err != nil {
		return nil, err
	}
	l := &ledger{codec: codec, byCommand: map[string][]cmdEvent{}, invoices: map[string][]invoicing.InvoiceIssued{},
		numbers: map[string][]string{}, writers: map[string]string{}, invoiceIDs: map[string]string{}, pays: map[string]payments.State{}}
	for e, err := range store.ReadAll(ctx, eventstore.Start()) {
		if err != nil {
			return nil, fmt.Errorf("demo: verify: %w", err)
		}
		rep.Events++
		if strings.HasPrefix(e.Stream, reservation.Category+"-") {
			continue // reservation claims are checked through reservation.Lookup
		}
		if err := l.add(e, rep); err != nil {
			return nil, err
		}
	}
	rep.InvoicesIssued = 0
	for _, list := range l.invoices {
		rep.InvoicesIssued += len(list)
	}
	return l, nil
}

// add records one event of a command.
func (l *ledger) add(e eventstore.RecordedEvent, rep *Report) error {
	meta, err := command.DecodeMetadata(e.Metadata)
	if err != nil {
		rep.violate("metadata", "event %s of %s has no command metadata: %v", e.ID, e.Stream, err)
		return nil
	}
	l.byCommand[meta.CommandID] = append(l.byCommand[meta.CommandID], cmdEvent{e.Stream, meta.Index, meta.Count})
	switch {
	case e.Type == invoicing.TypeInvoiceIssued:
		var inv invoicing.InvoiceIssued
		if err := json.Unmarshal(e.Data, &inv); err != nil {
			return fmt.Errorf("demo: verify: decode invoice at %s: %w", e.Position, err)
		}
		if want := invoicing.Category + "-" + invoicing.InvoiceID(inv.ShipmentRef); e.Stream != want {
			rep.violate("keyed identity", "invoice for %s is in stream %s, not %s", inv.ShipmentRef, e.Stream, want)
		}
		l.invoices[inv.ShipmentRef] = append(l.invoices[inv.ShipmentRef], inv)
		if len(l.numbers[inv.Number]) == 0 {
			l.writers[inv.Number] = meta.CommandID
		}
		l.numbers[inv.Number] = append(l.numbers[inv.Number], inv.ShipmentRef)
		l.invoiceIDs[e.ID.String()] = inv.Number
	case strings.HasPrefix(e.Stream, payments.Category+"-"):
		v, err := l.codec.DecodeEvent(e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("demo: verify: decode %s at %s: %w", e.Type, e.Position, err)
		}
		id := strings.TrimPrefix(e.Stream, payments.Category+"-")
		l.pays[id] = payments.Evolve(l.pays[id], v)
	}
	return nil
}

// checkInvoices: one invoice per fiscal shipment reference, for every shipment,
// with the shipment's content (G5).
func (l *ledger) checkInvoices(wl Workload, rep *Report) {
	for _, ref := range sortedKeys(l.invoices) {
		if n := len(l.invoices[ref]); n > 1 {
			rep.violate("one invoice per shipment", "shipment %s has %d invoices", ref, n)
		}
	}
	for _, ref := range sortedKeys(wl.Expected.Shipments) {
		want := wl.Expected.Shipments[ref]
		got, ok := l.invoices[ref]
		switch {
		case !ok:
			rep.violate("every shipment invoiced", "shipment %s has no invoice", ref)
		case got[0].Customer != want.Customer || got[0].Amount != want.Amount || got[0].Currency != want.Currency:
			rep.violate("invoice content", "invoice of %s is %+v, want customer %s amount %d %s", ref, got[0], want.Customer, want.Amount, want.Currency)
		}
	}
}

// checkNumbers: unique invoice numbers, each held in its reservation by its
// invoice (G5). The reservation's owner must be the invoice's stream. Its
// CommandID may be another command of the same invoice (the second path's, or an
// attempt that lost the race), since commands of one owner join a claim; but the
// command that wrote the invoice must be on the claim, as its maker or a joiner:
// a number freed under the writer (and claimed again later) is caught even if the
// same invoice claimed it again.
func (l *ledger) checkNumbers(ctx context.Context, reservations *reservation.Reservations, rep *Report) error {
	for _, num := range sortedKeys(l.numbers) {
		refs := l.numbers[num]
		if len(refs) > 1 {
			rep.violate("unique invoice numbers", "number %s is on %d invoices: %v", num, len(refs), refs)
		}
		claim, held, err := reservations.Lookup(ctx, invoicing.Category, invoicing.NumberKey(num))
		if err != nil {
			return fmt.Errorf("demo: verify: %w", err)
		}
		want, writer := invoicing.Category+"-"+invoicing.InvoiceID(refs[0]), l.writers[num]
		switch {
		case !held || claim.Owner != want:
			rep.violate("number reservations", "number %s of invoice %s is reserved by %q (held: %v)", num, refs[0], claim.Owner, held)
		case claim.CommandID != writer && !slices.Contains(claim.Joined, writer):
			rep.violate("number reservations", "number %s of invoice %s was written by command %q, which is not on its claim (made by %q, joined by %v)",
				num, refs[0], writer, claim.CommandID, claim.Joined)
		}
	}
	rep.NumbersUnique = len(l.numbers)
	return nil
}

// checkPayments: payments end exactly as their commands say, and never refund
// more than was captured nor capture more than was authorized (G3, G5).
func (l *ledger) checkPayments(wl Workload, rep *Report) {
	for _, id := range sortedKeys(l.pays) {
		s := l.pays[id]
		if s.Refunded > s.Captured || s.Captured > s.Authorized {
			rep.violate("refunds <= captured <= authorized", "payment %s: authorized %d, captured %d, refunded %d", id, s.Authorized, s.Captured, s.Refunded)
		}
		if _, ok := wl.Expected.Payments[id]; !ok {
			rep.violate("payments", "payment %s is not in the workload", id)
		}
	}
	for _, id := range sortedKeys(wl.Expected.Payments) {
		want, s := wl.Expected.Payments[id], l.pays[id]
		got := ExpectedPayment{Authorized: s.Authorized, Captured: s.Captured, Refunded: s.Refunded, Currency: s.Currency,
			Voided: s.Status == payments.StatusVoided, Captures: len(s.Captures), Refunds: len(s.Refunds)}
		if got != want {
			rep.violate("payment outcome", "payment %s ended as %+v, want %+v", id, got, want)
		}
	}
	rep.PaymentsChecked = len(wl.Expected.Payments)
}

// checkCommands: no command recorded twice; each command id's events form one
// append (G3, G4).
func (l *ledger) checkCommands(rep *Report) {
	for _, id := range sortedKeys(l.byCommand) {
		evs := l.byCommand[id]
		idx := map[int]int{}
		for _, e := range evs {
			idx[e.index]++
			if e.stream != evs[0].stream || e.count != evs[0].count {
				rep.violate("each command applied once", "command %s has events in %s and %s", id, evs[0].stream, e.stream)
			}
		}
		if len(evs) != evs[0].count || len(idx) != evs[0].count {
			rep.violate("each command applied once", "command %s has %d events, its append had %d", id, len(evs), evs[0].count)
		}
	}
}

// checkPlanted: every planted key reuse refused loudly, never applied; no
// over-refund applied; nothing dead-lettered but the planted over-refunds.
func checkPlanted(cfg Config, all []Message, rep *Report) {
	for _, m := range all {
		out := rep.Broker.outcomes[m.Seq]
		switch m.Planted {
		case "key-reuse":
			if out[outKeyReused] == 0 || out[outApplied] > 0 {
				rep.violate("key reuse is loud", "command %s sent again with another payload: outcomes %v", m.CommandID, out)
			} else {
				rep.KeyReuseRefused++
			}
		case "over-refund":
			if out[outApplied] > 0 {
				rep.violate("refunds <= captured", "over-refund %s was applied", m.CommandID)
			}
		}
	}
	for _, i := range rep.Broker.DeadLettered {
		out := rep.Broker.outcomes[i]
		handled := out[outApplied]+out[outDupID]+out[outDupKey]+out[outNoOp] > 0 // another copy got through
		if all[i].Planted == "over-refund" {
			rep.OverRefundsRefused++
		} else if !handled {
			rep.violate("nothing lost", "message %s (%d) given up after %d attempts: %s", all[i].CommandID, i, cfg.MaxAttempts, rep.Broker.lastErr[i])
		}
	}
}

// checkMail: one notification per invoice, sent with the invoice event's id (G10).
func (l *ledger) checkMail(rep *Report) {
	if rep.Mail.Sent != int64(rep.InvoicesIssued) {
		rep.violate("one notification per invoice", "%d mails sent for %d invoices", rep.Mail.Sent, rep.InvoicesIssued)
	}
	for _, id := range sortedKeys(l.invoiceIDs) {
		if _, ok := rep.MailKeys[id]; !ok {
			rep.violate("one notification per invoice", "invoice %s (event %s) was never mailed", l.invoiceIDs[id], id)
		}
	}
	for _, k := range sortedKeys(rep.MailKeys) {
		if _, ok := l.invoiceIDs[k]; !ok {
			rep.violate("one notification per invoice", "mail with key %s is about no issued invoice (%s)", k, rep.MailKeys[k])
		}
	}
}

// diff describes the first rows where two read models differ.
func diff(got, want ReadModels) string {
	var out []string
	for _, k := range sortedKeys(want.Customers) {
		if got.Customers[k] != want.Customers[k] {
			out = append(out, fmt.Sprintf("customer %s: %+v, want %+v", k, got.Customers[k], want.Customers[k]))
		}
	}
	for _, k := range sortedKeys(want.Revenue) {
		if got.Revenue[k] != want.Revenue[k] {
			out = append(out, fmt.Sprintf("revenue %s: %+v, want %+v", k, got.Revenue[k], want.Revenue[k]))
		}
	}
	if len(got.Customers) != len(want.Customers) || len(got.Revenue) != len(want.Revenue) {
		out = append(out, fmt.Sprintf("%d customer rows and %d revenue rows, want %d and %d",
			len(got.Customers), len(got.Revenue), len(want.Customers), len(want.Revenue)))
	}
	if len(out) > 3 {
		out = append(out[:3], fmt.Sprintf("and %d more", len(out)-3))
	}
	return strings.Join(out, "; ")
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}
