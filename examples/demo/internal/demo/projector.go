package demo

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/projection"
)

// readSide is what the live read models need: their target (a SQLite file, or a
// PostgreSQL schema when the events are in PostgreSQL), the simulated mail
// service's database, and the runner of the projections and the notification
// reactor.
type readSide struct {
	target *readTarget
	readDB *sql.DB // the target's readers
	mailDB *sql.DB
	mail   *invoicing.MailService
	runner runner
}

// openReadSide opens the read models' target and the mail database beside the
// event store at dbPath and builds the live runner over store, recording its
// metrics to mp (nil: the OTel global).
func openReadSide(ctx context.Context, store eventstore.Store, dbPath string, mp metric.MeterProvider) (rs *readSide, err error) {
	rs = &readSide{}
	defer func() {
		if err != nil {
			rs.Close()
		}
	}()
	if rs.target, err = openReadTarget(ctx, store, dbPath); err != nil {
		return nil, err
	}
	rs.readDB = rs.target.db
	if rs.mailDB, err = openSQL(dbPath + ".mail"); err != nil {
		return nil, err
	}
	if rs.mail, err = invoicing.NewMailService(ctx, rs.mailDB); err != nil {
		return nil, err
	}
	if rs.runner, err = rs.target.runner(0, append(meteredRunner(mp), projection.WithLagInterval(250*time.Millisecond))...); err != nil {
		return nil, err
	}
	if err := rs.runner.AddReactor(invoicing.Notifier(rs.mail)); err != nil {
		return nil, err
	}
	return rs, nil
}

// Close closes the databases.
func (rs *readSide) Close() {
	if rs.target != nil {
		rs.target.close()
	}
	if rs.mailDB != nil {
		_ = rs.mailDB.Close()
	}
}

// meteredRunner is the option that makes a runner record its metrics to mp; none
// when mp is nil.
func meteredRunner(mp metric.MeterProvider) []projection.Option {
	if mp == nil {
		return nil
	}
	return []projection.Option{projection.WithMeterProvider(mp)}
}

// runProjector runs the live projections and the notification reactor until its
// standard input ends, reporting progress (and metrics) on standard output.
func runProjector(ctx context.Context, r role) error {
	var m *childMetrics
	if r.Metrics {
		m = newChildMetrics()
	}
	store, err := openStore(ctx, r.Backend, r.DBPath, r.Synchronous, m.meterProvider())
	if err != nil {
		return err
	}
	defer store.Close()
	rs, err := openReadSide(ctx, store, r.DBPath, m.meterProvider())
	if err != nil {
		return err
	}
	defer rs.Close()
	runner := rs.runner
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
			_ = enc.Encode(projectorReport(ctx, runner, m))
			return err
		case <-tick.C:
			_ = enc.Encode(projectorReport(ctx, runner, m))
		}
	}
}

// projectorStateOf sums a runner's figures: events applied, and the least
// checkpoint and the total lag of its projections and reactor.
func projectorStateOf(stats []projection.Stats) *projectorState {
	st := &projectorState{CaughtUp: true}
	var least *eventstore.Position
	for _, s := range stats {
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
