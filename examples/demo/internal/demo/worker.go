package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/examples/payments"
	"github.com/idemkit/idem/reservation"
)

// maxNumberAttempts bounds the invoice number candidates a worker tries.
const maxNumberAttempts = 64

// handlers are a worker's command handlers, one per aggregate kind.
type handlers struct {
	payments *command.Handler[payments.State, payments.Command, payments.Event]
	invoices *command.Handler[invoicing.State, invoicing.IssueInvoice, invoicing.InvoiceIssued]
	// metrics, when the run serves them, receives the handlers' metrics.
	metrics *childMetrics
}

// newHandlers returns the command handlers of a worker, each with an aggregate
// cache of cache entries (0: none), recording their metrics to m (nil: none).
func newHandlers(store eventstore.Store, cache int, m *childMetrics) (*handlers, error) {
	payCodec, err := payments.NewCodec()
	if err != nil {
		return nil, err
	}
	invCodec, err := invoicing.NewCodec()
	if err != nil {
		return nil, err
	}
	opts := []command.Option{command.WithLogger(slog.New(slog.DiscardHandler)), command.WithCache(cache)}
	if m != nil {
		opts = append(opts, command.WithMeterProvider(m.meterProvider())) // reservations too
	}
	pay, err := command.NewHandler(store, payments.Decider, payCodec, opts...)
	if err != nil {
		return nil, err
	}
	inv, err := command.NewHandler(store, invoicing.Decider, invCodec, opts...)
	if err != nil {
		return nil, err
	}
	return &handlers{payments: pay, invoices: inv, metrics: m}, nil
}

// stats sums the two handlers' counters.
func (h *handlers) stats() command.Stats {
	s := h.payments.Stats()
	addStats(&s, h.invoices.Stats())
	return s
}

// handle handles one delivery and says what came of it.
func (h *handlers) handle(ctx context.Context, m Message) ack {
	end := h.metrics.begin() // no snapshot of the counters while it is handled
	res, renumbered, err := h.run(ctx, m)
	end()
	a := classify(res, err)
	a.Renumbered = renumbered
	return a
}

// run handles one delivery and returns the handler's answer, and how many
// invoice numbers were found taken on the way.
func (h *handlers) run(ctx context.Context, m Message) (command.Result, int, error) {
	if m.Shipment != nil {
		return h.handleShipment(ctx, *m.Shipment)
	}
	res, err := h.payments.Handle(ctx, command.Command[payments.Command]{
		ID: m.CommandID, AggregateID: m.PaymentID, Payload: m.Payload(), CorrelationID: m.PaymentID,
	})
	return res, 0, err
}

// handleShipment issues the shipment's invoice, proposing number candidates until
// one is free or already this invoice's (reservations, G5).
//
// The handler claims the candidate (Decider.Keys) before it writes the invoice: a
// number held by another invoice fails with reservation.ErrClaimed, and the next
// candidate is tried. A number claimed for this invoice by another command (the
// same shipment by its second path) is joined, never taken back by the command
// that loses the race, so the number the invoice is written with stays reserved
// by it.
func (h *handlers) handleShipment(ctx context.Context, s invoicing.ShipmentCompleted) (command.Result, int, error) {
	renumbered := 0
	invoiceID := invoicing.InvoiceID(s.ShipmentRef)
	for attempt := range maxNumberAttempts {
		res, err := h.invoices.Handle(ctx, command.Command[invoicing.IssueInvoice]{
			ID: s.CommandID(attempt), AggregateID: invoiceID, Payload: s.Command(attempt), CorrelationID: s.ShipmentRef,
		})
		if errors.Is(err, reservation.ErrClaimed) {
			renumbered++
			continue
		}
		return res, renumbered, err
	}
	return command.Result{}, renumbered, fmt.Errorf("shipment %s: no free invoice number in %d candidates", s.ShipmentRef, maxNumberAttempts)
}

// classify turns a handler's answer into an outcome.
func classify(res command.Result, err error) ack {
	switch {
	case err == nil && res.Duplicate && res.DuplicateBy == command.ByBusinessKey:
		return ack{Outcome: outDupKey}
	case err == nil && res.Duplicate:
		return ack{Outcome: outDupID}
	case err == nil && res.NoOp:
		return ack{Outcome: outNoOp}
	case err == nil:
		return ack{Outcome: outApplied}
	case errors.Is(err, command.ErrIdempotencyKeyReused):
		return ack{Outcome: outKeyReused, Err: err.Error()}
	case errors.Is(err, payments.ErrNotAuthorized), errors.Is(err, payments.ErrExceedsCaptured):
		// Refused for now: the authorization or the capture it needs has not
		// arrived yet (deliveries are reordered). The queue tries again later.
		return ack{Outcome: outLater, Err: err.Error()}
	case errors.Is(err, command.ErrRejected):
		return ack{Outcome: outRejected, Err: err.Error()}
	}
	return ack{Outcome: outRetry, Err: err.Error()}
}

// serveWorker reads deliveries from in, handles them on consumers goroutines and
// writes acknowledgements and counters to out, until in ends.
func serveWorker(ctx context.Context, h *handlers, consumers int, in io.Reader, out io.Writer) error {
	deliveries := make(chan handoff, consumers)
	reports := make(chan report, consumers*2)
	var readErr error
	go func() {
		defer close(deliveries)
		dec := json.NewDecoder(bufio.NewReader(in))
		for {
			var d handoff
			if err := dec.Decode(&d); err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = fmt.Errorf("read delivery: %w", err)
				}
				return
			}
			deliveries <- d
		}
	}()
	var wg sync.WaitGroup
	for range consumers {
		wg.Go(func() {
			for d := range deliveries {
				a := h.handle(ctx, d.Msg)
				a.ID = d.ID
				reports <- report{Ack: &a}
			}
		})
	}
	go func() { wg.Wait(); close(reports) }()

	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r, ok := <-reports:
			if !ok {
				_ = enc.Encode(workerCounters(ctx, h))
				if err := w.Flush(); err != nil {
					return err
				}
				return readErr
			}
			// The counters go out with every flush, right after the acks they
			// cover: a kill loses at most the last flush's worth of them. With
			// metrics, whose snapshot pauses the consumers, they go out with the
			// tick only.
			if err := enc.Encode(r); err != nil {
				return err
			}
			if len(reports) == 0 {
				if h.metrics == nil {
					_ = enc.Encode(workerCounters(ctx, h))
				}
				if err := w.Flush(); err != nil {
					return err
				}
			}
		case <-tick.C:
			_ = enc.Encode(workerCounters(ctx, h))
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}

// stderrLogger is the workers' logger: warnings and errors only.
func stderrLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
