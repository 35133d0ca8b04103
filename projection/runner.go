package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// Options tunes a Runner. The zero value gives the defaults.
type Options struct {
	// BatchSize is the most events applied in one transaction in live mode (default
	// 256). A live batch is committed as soon as no more events are immediately
	// available, so latency stays low.
	BatchSize int
	// CatchUpBatchSize is the events applied in one transaction while catching up,
	// rebuilding or replaying: batches are filled up to it, as the history is there
	// to read. Large batches make rebuilds fast (fewer commits, each page of the read
	// model written once per batch); a crash loses at most one batch of work, which
	// is then applied again. Default: BatchSize if it was set, else 4096.
	CatchUpBatchSize int
	// Retries is how many times an event whose handler failed is tried again, with
	// backoff, before its poison policy applies (0: 3; negative: none). Failures of
	// the target database are retried the same way.
	Retries int
	// Backoff is the wait before the first retry, doubled each time up to MaxBackoff
	// (defaults 20ms and 1s).
	Backoff, MaxBackoff time.Duration
	// Logger receives the runner's logs (default slog.Default()).
	Logger *slog.Logger
	// Progress, when set, is called while a projection catches up or rebuilds, at
	// most every ProgressEvery (default 1s), and once when it has caught up.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// LagEvery is how often Run refreshes the head and lag figures of Stats
	// (default 1s; negative: never, except once when CatchUp returns).
	LagEvery time.Duration
	// LagLimit caps the events counted behind a checkpoint (default 10000).
	LagLimit int
}

func (o Options) withDefaults() Options {
	if o.CatchUpBatchSize <= 0 {
		o.CatchUpBatchSize = o.BatchSize
		if o.CatchUpBatchSize <= 0 {
			o.CatchUpBatchSize = 4096
		}
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.Retries == 0 {
		o.Retries = 3
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = 20 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	if o.LagEvery == 0 {
		o.LagEvery = time.Second
	}
	if o.LagLimit <= 0 {
		o.LagLimit = 10000
	}
	return o
}

// batchSize is the most events of one transaction in mode.
func (o Options) batchSize(mode Mode) int {
	if mode == Live {
		return o.BatchSize
	}
	return o.CatchUpBatchSize
}

func (o Options) backoff(attempt int) time.Duration {
	d := o.Backoff
	for i := 1; i < attempt && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff)
}

// Runner applies events from a store to SQL projections and reactors whose
// bookkeeping (checkpoints, per-stream guard, parked events) lives in the target
// database db. Several projections run at once, each with its own checkpoint.
//
// db must be a SQLite database opened with the "sqlite3" driver; OpenDB opens one
// with the settings the runner expects (WAL, a busy timeout). It may be the event
// store's own file.
type Runner struct {
	store eventstore.Store
	db    *sql.DB
	opts  Options
	log   *slog.Logger

	// writeMu serialises the runner's write transactions: SQLite has one writer, and
	// waiting here is cheaper than waiting in SQLite's busy handler.
	writeMu sync.Mutex

	mu       sync.Mutex
	sqls     []*sqlWorker
	reactors []*reactorWorker
	running  bool
	schemaOK bool
}

// NewRunner returns a runner reading from store and writing to db. Add projections
// and reactors, then call Run (or CatchUp).
func NewRunner(store eventstore.Store, db *sql.DB, opts Options) (*Runner, error) {
	if store == nil || db == nil {
		return nil, fmt.Errorf("new projection runner: %w: nil store or database", ErrInvalidProjection)
	}
	opts = opts.withDefaults()
	return &Runner{store: store, db: db, opts: opts, log: opts.Logger}, nil
}

// AddSQL adds a SQL projection. Two versions of the same projection may be added:
// the higher one is rebuilt beside the lower one and replaces it once caught up.
func (r *Runner) AddSQL(p SQL) error {
	if err := p.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return fmt.Errorf("add %s: %w", label(p.Name, p.Version), ErrRunning)
	}
	for _, w := range r.sqls {
		if w.p.Name == p.Name && w.p.Version == p.Version {
			return fmt.Errorf("add %s: %w: added twice", label(p.Name, p.Version), ErrInvalidProjection)
		}
	}
	for _, w := range r.reactors {
		if w.re.Name == p.Name {
			return fmt.Errorf("add %s: %w: a reactor has that name", label(p.Name, p.Version), ErrInvalidProjection)
		}
	}
	r.sqls = append(r.sqls, &sqlWorker{r: r, p: p, tables: newTables(p)})
	return nil
}

// AddReactor adds a reactor.
func (r *Runner) AddReactor(re Reactor) error {
	if err := re.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return fmt.Errorf("add %s: %w", label(re.Name, 0), ErrRunning)
	}
	for _, w := range r.sqls {
		if w.p.Name == re.Name {
			return fmt.Errorf("add %s: %w: a SQL projection has that name", label(re.Name, 0), ErrInvalidProjection)
		}
	}
	for _, w := range r.reactors {
		if w.re.Name == re.Name {
			return fmt.Errorf("add %s: %w: added twice", label(re.Name, 0), ErrInvalidProjection)
		}
	}
	r.reactors = append(r.reactors, &reactorWorker{r: r, re: re, guards: map[string]uint64{}})
	return nil
}

// worker is a SQL projection version or a reactor being run.
type worker interface {
	run(ctx context.Context, untilCaughtUp bool) error
	stats() *stats
	readOptions() []eventstore.ReadOption
}

// Run applies events to every projection and reactor, catching up from their
// checkpoints and then live, until ctx is done (it then returns nil) or one of them
// fails (it then stops the others and returns the error). A projection version
// replaced by a newer one stops quietly.
func (r *Runner) Run(ctx context.Context) error { return r.runAll(ctx, false) }

// CatchUp is Run that returns once every projection and reactor has caught up with
// the log (a rebuilding version has then been switched in). It suits tests, batch
// jobs and operators' tools.
func (r *Runner) CatchUp(ctx context.Context) error { return r.runAll(ctx, true) }

func (r *Runner) runAll(ctx context.Context, untilCaughtUp bool) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRunning
	}
	r.running = true
	workers := r.workers()
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	if err := r.ensureSchema(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg, lag sync.WaitGroup
	errs := make([]error, len(workers))
	for i, w := range workers {
		wg.Go(func() {
			if err := w.run(ctx, untilCaughtUp); err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	if r.opts.LagEvery > 0 && !untilCaughtUp {
		lag.Go(func() { r.lagLoop(ctx, workers) })
	}
	wg.Wait()
	cancel()
	lag.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if untilCaughtUp {
		r.refreshLag(context.WithoutCancel(ctx), workers)
	}
	return nil
}

func (r *Runner) workers() []worker {
	ws := make([]worker, 0, len(r.sqls)+len(r.reactors))
	for _, w := range r.sqls {
		ws = append(ws, w)
	}
	for _, w := range r.reactors {
		ws = append(ws, w)
	}
	return ws
}

func (r *Runner) ensureSchema(ctx context.Context) error {
	r.mu.Lock()
	done := r.schemaOK
	r.mu.Unlock()
	if done {
		return nil
	}
	err := r.retrying(ctx, "create projection bookkeeping tables", func() error {
		r.writeMu.Lock()
		defer r.writeMu.Unlock()
		_, err := r.db.ExecContext(ctx, schema)
		return err
	})
	if err != nil {
		return fmt.Errorf("create projection bookkeeping tables: %w", err)
	}
	r.mu.Lock()
	r.schemaOK = true
	r.mu.Unlock()
	return nil
}

// writeTx runs fn in a write transaction of the target database and commits it.
func (r *Runner) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// Take SQLite's write lock first: a transaction that reads, then writes, fails
	// at once with "database is locked" if another connection wrote in between,
	// where one that starts by writing waits for the lock (busy timeout).
	if _, err := tx.ExecContext(ctx, `UPDATE idem_projections SET name = name WHERE 0`); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// retrying runs fn, a step of the target database, again with backoff when it
// fails, as many times as Retries says: a read model locked by another process at
// start (a blue/green deploy, an operator's query) is waited out.
func (r *Runner) retrying(ctx context.Context, what string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || ctx.Err() != nil || attempt > r.opts.Retries {
			return err
		}
		r.log.Warn("projection database step failed, retrying", "step", what, "attempt", attempt, "error", err)
		if err := sleep(ctx, r.opts.backoff(attempt)); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
