package projection_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// invoiceTotals is the projection of the examples: the total of each invoice.
func invoiceTotals(version int) projection.Projection[*sqlitetarget.Tx] {
	return projection.Projection[*sqlitetarget.Tx]{
		Name:       "invoice_totals",
		Version:    version, // bump it when Setup or Handle change: the runner rebuilds
		Tables:     []string{"invoice_totals"},
		EventTypes: []string{"LineAdded"},
		Setup: func(ctx context.Context, tx *sqlitetarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {invoice_totals} (invoice TEXT PRIMARY KEY, total INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO {invoice_totals} (invoice, total) VALUES (?, CAST(? AS INTEGER))
				ON CONFLICT (invoice) DO UPDATE SET total = total + excluded.total`, e.Stream, string(e.Data))
			return err
		},
	}
}

// exampleSetup returns a memory store holding two lines of invoice-1 and a SQLite
// target in a temporary directory, and a function that removes them.
func exampleSetup(ctx context.Context) (*memory.Store, *sqlitetarget.Target, func()) {
	store := memory.New()
	for _, amount := range []string{"100", "50"} {
		store.Append(ctx, "invoice-1", eventstore.Any(), eventstore.EventData{ID: uuid.New(), Type: "LineAdded", Data: []byte(amount)})
	}
	dir, _ := os.MkdirTemp("", "example")
	target, err := sqlitetarget.Open(ctx, filepath.Join(dir, "read.db"))
	if err != nil {
		panic(err)
	}
	return store, target, func() { target.Close(); store.Close(); os.RemoveAll(dir) }
}

var quiet = projection.WithLogger(slog.New(slog.DiscardHandler))

func Example() {
	ctx := context.Background()
	store, target, cleanup := exampleSetup(ctx)
	defer cleanup()

	r, err := projection.NewRunner(store, target, projection.WithBatchSize(256), quiet)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Add(invoiceTotals(1)); err != nil {
		fmt.Println(err)
		return
	}
	// CatchUp returns once caught up; a service calls Run, which then stays live.
	if err := r.CatchUp(ctx); err != nil {
		fmt.Println(err)
		return
	}

	// Readers use the view, named after the logical table.
	var total int
	target.DB().QueryRow(`SELECT total FROM invoice_totals WHERE invoice = 'invoice-1'`).Scan(&total)
	fmt.Println("total:", total)
	st, _ := r.Status(ctx, "invoice_totals")
	fmt.Println("generation:", st.Active.Number, "checkpoint:", st.Checkpoint, "lag:", st.Lag)

	// Replaying the same events changes nothing: the per-stream guard skips them.
	res, _ := r.ReplayStream(ctx, "invoice_totals", "invoice-1")
	fmt.Println("replay applied:", res.Applied, "skipped:", res.Skipped)
	// Output:
	// total: 150
	// generation: 1 checkpoint: 2/2 lag: 0
	// replay applied: 0 skipped: 2
}

// Rebuilding needs no code change: Rebuild builds a new generation beside the
// active one, switches readers to it once caught up, and returns.
func ExampleRunner_Rebuild() {
	ctx := context.Background()
	store, target, cleanup := exampleSetup(ctx)
	defer cleanup()
	r, _ := projection.NewRunner(store, target, quiet)
	r.Add(invoiceTotals(1))
	r.CatchUp(ctx)

	err := r.Rebuild(ctx, "invoice_totals", projection.WithRebuildProgress(func(p projection.Progress) {
		if p.CaughtUp {
			fmt.Println("generation", p.Generation, "built from", p.Done, "events")
		}
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	st, _ := r.Status(ctx, "invoice_totals")
	fmt.Println("active:", st.Active.Number, "built by version", st.Active.Version)
	// Output:
	// generation 2 built from 2 events
	// active: 2 built by version 1
}

// Deploying code with a higher Version makes Run (or CatchUp) build a new
// generation beside the active one, in Rebuild mode, and switch readers to it once
// caught up; a runner of the older code steps aside.
func ExampleProjection_newVersion() {
	ctx := context.Background()
	store, target, cleanup := exampleSetup(ctx)
	defer cleanup()
	v1, _ := projection.NewRunner(store, target, quiet)
	v1.Add(invoiceTotals(1))
	v1.CatchUp(ctx)

	v2, _ := projection.NewRunner(store, target, quiet)
	v2.Add(invoiceTotals(2))
	if err := v2.CatchUp(ctx); err != nil {
		fmt.Println(err)
		return
	}
	st, _ := v2.Status(ctx, "invoice_totals")
	fmt.Println("active:", st.Active.Number, "built by version", st.Active.Version)

	v1.CatchUp(ctx) // the old deployment, still running
	old, _ := v1.Status(ctx, "invoice_totals")
	fmt.Println("version 1:", old.State)
	// Output:
	// active: 2 built by version 2
	// version 1: stepped aside
}

// outbox is a downstream system that sends one message per idempotency key.
type outbox struct{ sent map[string]string }

func (o *outbox) Send(_ context.Context, key, text string) error {
	if _, dup := o.sent[key]; !dup {
		o.sent[key] = text
	}
	return nil
}

func ExampleReactor() {
	ctx := context.Background()
	store, target, cleanup := exampleSetup(ctx)
	defer cleanup()
	mail := &outbox{sent: map[string]string{}}

	receipts := projection.Reactor{
		Name:       "receipts",
		EventTypes: []string{"InvoicePaid"},
		NewOnly:    true, // a new reactor starts at the head: no mail for history
		Handle: func(ctx context.Context, e projection.ReactorEvent) error {
			return mail.Send(ctx, e.IdempotencyKey, "receipt for "+e.Stream)
		},
	}
	r, _ := projection.NewRunner(store, target, quiet)
	if err := r.AddReactor(receipts); err != nil {
		fmt.Println(err)
		return
	}
	r.CatchUp(ctx)
	store.Append(ctx, "invoice-1", eventstore.Any(), eventstore.EventData{ID: uuid.New(), Type: "InvoicePaid"})
	r.CatchUp(ctx)
	for _, text := range mail.sent {
		fmt.Println(text)
	}
	// Output:
	// receipt for invoice-1
}

// With PoisonPark an event whose handler keeps failing is set aside and the
// projection goes on; once the handler is fixed, RetryParked applies it (or
// SkipParked drops it).
func ExampleRunner_RetryParked() {
	ctx := context.Background()
	store, target, cleanup := exampleSetup(ctx)
	defer cleanup()
	store.Append(ctx, "invoice-2", eventstore.Any(), eventstore.EventData{ID: uuid.New(), Type: "LineAdded", Data: []byte("12.5")})
	fixed := false
	totals := invoiceTotals(1)
	handle := totals.Handle
	totals.Poison = projection.PoisonPark
	totals.Handle = func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
		if !fixed && string(e.Data) == "12.5" {
			return errors.New("not an integer amount")
		}
		return handle(ctx, tx, e)
	}
	r, _ := projection.NewRunner(store, target, projection.WithRetries(0), quiet)
	r.Add(totals)
	r.CatchUp(ctx)

	parked, _ := r.Parked(ctx, "invoice_totals")
	for _, pe := range parked {
		fmt.Println("parked:", pe.Event.Stream, "after", pe.Attempts, "attempt")
	}
	fixed = true
	if err := r.RetryParked(ctx, "invoice_totals", parked[0].Event.ID); err != nil {
		fmt.Println(err)
	}
	parked, _ = r.Parked(ctx, "invoice_totals")
	fmt.Println("still parked:", len(parked))
	// Output:
	// parked: invoice-2 after 1 attempt
	// still parked: 0
}

// Status reads the target: the active generation and its code version, a
// generation being built, the checkpoint, the lag and the parked events.
func ExampleRunner_Status() {
	ctx := context.Background()
	store, target, cleanup := exampleSetup(ctx)
	defer cleanup()
	r, _ := projection.NewRunner(store, target, quiet)
	r.Add(invoiceTotals(1))
	r.CatchUp(ctx)
	store.Append(ctx, "invoice-3", eventstore.Any(), eventstore.EventData{ID: uuid.New(), Type: "LineAdded", Data: []byte("7")})

	st, err := r.Status(ctx, "invoice_totals")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("generation %d (version %d), %s, checkpoint %s of %s, %d behind, %d parked\n",
		st.Active.Number, st.Active.Version, st.State, st.Checkpoint, st.Head, st.Lag, st.Parked)
	// Output:
	// generation 1 (version 1), idle, checkpoint 2/2 of 3/3, 1 behind, 0 parked
}
