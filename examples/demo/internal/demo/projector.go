package demo

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/projection"
)

// liveRunner is the runner of the live read models and the notification reactor.
func liveRunner(store eventstore.Store, readDB *sql.DB, mail invoicing.Mailer) (*projection.Runner, error) {
	r, err := projection.NewRunner(store, readDB, projection.Options{
		Logger: slog.New(slog.DiscardHandler), LagEvery: 250 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	for _, p := range []projection.SQL{invoicing.InvoicesPerCustomer(), invoicing.RevenueTotals()} {
		if err := r.AddSQL(p); err != nil {
			return nil, err
		}
	}
	if err := r.AddReactor(invoicing.Notifier(mail)); err != nil {
		return nil, err
	}
	return r, nil
}

// runProjector runs the live projections and the notification reactor until its
// standard input ends, reporting progress on standard output.
func runProjector(ctx context.Context, r role) error {
	store, err := openStore(ctx, r.Backend, r.DBPath, r.Synchronous)
	if err != nil {
		return err
	}
	defer store.Close()
	readDB, err := openSQL(r.DBPath + ".read")
	if err != nil {
		return err
	}
	defer readDB.Close()
	mailDB, err := openSQL(r.DBPath + ".mail")
	if err != nil {
		return err
	}
	defer mailDB.Close()
	mail, err := invoicing.NewMailService(ctx, mailDB)
	if err != nil {
		return err
	}
	runner, err := liveRunner(store, readDB, mail)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the parent closes our input to stop us
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	enc := json.NewEncoder(os.Stdout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			_ = enc.Encode(report{Proj: projectorStateOf(runner)})
			return err
		case <-tick.C:
			_ = enc.Encode(report{Proj: projectorStateOf(runner)})
		}
	}
}

// projectorStateOf sums a runner's figures: events applied, and the least
// checkpoint and the total lag of its projections and reactor.
func projectorStateOf(r *projection.Runner) *projectorState {
	st := &projectorState{CaughtUp: true}
	var least *eventstore.Position
	for _, s := range r.Stats() {
		st.Applied += s.Applied
		st.Lag += s.Lag
		if s.Mode != projection.Live {
			st.CaughtUp = false
		}
		cp := s.Checkpoint
		if least == nil || cp.Less(*least) {
			least = &cp
		}
	}
	if least != nil {
		st.Position = least.String()
	}
	return st
}
