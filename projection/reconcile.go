package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
)

// ReconcileOption configures Reconcile. An option given a value out of range makes
// Reconcile fail with ErrInvalidOption.
type ReconcileOption func(*reconcileSettings) error

type reconcileSettings struct {
	progress func(Progress)
	rows     int
}

// DefaultReconcileRows is how many mismatched rows of each kind per table a
// reconciliation report shows by default (all are counted).
const DefaultReconcileRows = 10

// WithReconcileProgress sets a function called with the progress of the shadow
// build, besides the runner's own WithProgress.
func WithReconcileProgress(f func(Progress)) ReconcileOption {
	return func(s *reconcileSettings) error {
		if f == nil {
			return invalidOption("WithReconcileProgress", "nil function")
		}
		s.progress = f
		return nil
	}
}

// WithReconcileRows sets how many mismatched rows of each kind per table the
// report shows, n >= 0 (DefaultReconcileRows); all are counted whatever n.
func WithReconcileRows(n int) ReconcileOption {
	return func(s *reconcileSettings) error {
		if n < 0 {
			return invalidOption("WithReconcileRows", "%d, want 0 or more", n)
		}
		s.rows = n
		return nil
	}
}

// ReconcileReport is what Reconcile found: the live read model compared, table by
// table, with a shadow copy built from history by this runner's code.
type ReconcileReport struct {
	Projection string
	// Live is the active generation compared; Shadow the generation built from
	// history for the comparison, dropped since.
	Live, Shadow int
	// Checkpoint is the position both had reached when compared; Head the last
	// position of the log then (the live generation may lag behind it).
	Checkpoint, Head eventstore.Position
	// Events is the number of events applied to the shadow copy.
	Events uint64
	// Tables compares each logical table.
	Tables []TableDiff
	// Elapsed is how long the reconciliation took.
	Elapsed time.Duration
}

// Mismatches counts the mismatched rows of every table; 0 means the live read
// model is what history gives.
func (r ReconcileReport) Mismatches() int {
	n := 0
	for _, t := range r.Tables {
		n += t.Mismatches()
	}
	return n
}

// reconcileAttempts bounds how often Reconcile tries its last step again (a
// handler failed in it, or the target was busy).
const reconcileAttempts = 20

// Reconcile checks the live read model of projection name against history: it
// builds a shadow generation from position zero with this runner's code (handlers
// see Mode Rebuild; reactors never run), up to the active generation's checkpoint,
// without ever making it active, and compares their tables row by row (the
// target must be a Differ). The comparison runs in one Write of the name, which
// holds the live generation still: the shadow first applies what the live
// generation applied meanwhile, so both are compared at the same checkpoint, and
// the live generation's writers wait for the comparison to end. The shadow
// generation is dropped before Reconcile returns, also on failure or when ctx
// ends; readers never see it, and the live generation is only read.
//
// It fails with ErrUnknownProjection when the projection has no active generation,
// ErrVersionMismatch when another Version built it (its tables are another code's),
// ErrRunning when a build of it runs in this runner, and errors.ErrUnsupported when
// the target is not a Differ. A report with mismatches is no error: see
// ReconcileReport.Mismatches.
func (r *Runner[Tx]) Reconcile(ctx context.Context, name string, opts ...ReconcileOption) (ReconcileReport, error) {
	rs := reconcileSettings{rows: DefaultReconcileRows}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&rs); err != nil {
			return ReconcileReport{}, fmt.Errorf("reconcile projection %s: %w", quoteShort(name), err)
		}
	}
	started := time.Now()
	w, live, differ, err := r.reconcilable(ctx, name)
	if err != nil {
		return ReconcileReport{}, err
	}
	if !w.tryBuild() {
		return ReconcileReport{}, fmt.Errorf("reconcile %s: %w: a build of it is running in this runner", label(name, false, 0), ErrRunning)
	}
	defer w.releaseBuild()
	shadow, err := w.createShadow(ctx)
	if err != nil {
		return ReconcileReport{}, err
	}
	defer w.dropShadow(ctx, shadow.Number)
	rep, err := w.compare(ctx, live, shadow, differ, rs)
	if err != nil {
		return ReconcileReport{}, err
	}
	rep.Elapsed = time.Since(started)
	return rep, nil
}

// reconcilable checks that projection name can be reconciled and returns its
// worker, its active generation and the target's Differ.
func (r *Runner[Tx]) reconcilable(ctx context.Context, name string) (*projWorker[Tx], Generation, Differ[Tx], error) {
	fail := func(err error) (*projWorker[Tx], Generation, Differ[Tx], error) {
		return nil, Generation{}, nil, fmt.Errorf("reconcile %s: %w", label(name, false, 0), err)
	}
	w, err := r.projection(name)
	if err != nil {
		return nil, Generation{}, nil, fmt.Errorf("reconcile: %w", err)
	}
	differ, ok := any(r.target).(Differ[Tx])
	if !ok {
		return fail(fmt.Errorf("%w: the target (%T) cannot compare generations", errors.ErrUnsupported, r.target))
	}
	if err := r.init(ctx); err != nil {
		return fail(err)
	}
	gens, err := r.target.Generations(ctx, name)
	if err != nil {
		return fail(err)
	}
	if err := checkKind(gens, KindProjection); err != nil {
		return fail(err)
	}
	for _, g := range gens {
		switch {
		case g.State != Active:
		case g.Version != w.p.Version:
			return fail(fmt.Errorf("%w: the active generation %d was built by version %d, this runner has version %d",
				ErrVersionMismatch, g.Number, g.Version, w.p.Version))
		default:
			return w, g, differ, nil
		}
	}
	return fail(fmt.Errorf("%w: no active generation yet (run it first)", ErrUnknownProjection))
}

// createShadow records a new generation, Building, and runs Setup for it. It is
// never activated: Reconcile drops it.
func (w *projWorker[Tx]) createShadow(ctx context.Context) (Generation, error) {
	r, p := w.r, w.p
	var g Generation
	err := r.retrying(ctx, "create a shadow generation of "+label(p.Name, false, 0), func() error {
		return r.target.Write(ctx, p.Name, func(wr Writer[Tx]) error {
			gens, err := wr.Generations(ctx)
			if err != nil {
				return err
			}
			g = Generation{Name: p.Name, Number: nextNumber(gens), Kind: KindProjection, Version: p.Version,
				State: Building, Tables: p.Tables}
			return wr.Create(ctx, g, func(tx Tx) error {
				return callback.Call(label(p.Name, false, g.Number)+" Setup", func() error { return p.Setup(ctx, tx) })
			})
		})
	})
	if err != nil {
		return g, fmt.Errorf("reconcile %s: create the shadow generation: %w", label(p.Name, false, 0), err)
	}
	r.log.Info("projection reconciliation started", "projection", p.Name, "shadow", g.Number)
	return g, nil
}

// dropShadow retires and drops the shadow generation, whatever ctx says (it may
// have ended). A shadow that another process activated meanwhile (a Rebuild that
// resumed it: it is a whole build of this code) is left alone. A failure is
// logged: the next start of a runner drops retired generations' tables.
func (w *projWorker[Tx]) dropShadow(ctx context.Context, n int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := w.r.retrying(ctx, "drop the shadow generation", func() error {
		return w.r.target.Write(ctx, w.p.Name, func(wr Writer[Tx]) error {
			gens, err := wr.Generations(ctx)
			if err != nil {
				return err
			}
			for _, g := range gens {
				if g.Number != n || g.State == Active {
					continue
				}
				if g.State == Building {
					if err := wr.Retire(ctx, n); err != nil {
						return err
					}
				}
				return wr.Drop(ctx, n)
			}
			return nil
		})
	})
	if err != nil {
		w.r.log.Warn("shadow generation not dropped; the next start of a runner drops it", "projection", w.p.Name,
			"generation", n, "error", err)
	}
}

// errCompared ends the Write of a comparison: it is rolled back, having
// written nothing that lasts.
var errCompared = errors.New("compared")

// compare builds the shadow up to the live checkpoint (in batches, with the
// runner's poison policy), then compares them in one Write: under the write lock
// of the name, which holds the live generation still, it applies to the shadow
// what the live generation applied meanwhile and compares the tables, then rolls
// back. If a handler fails in that last step, the shadow catches up the usual way
// and the step is tried again.
func (w *projWorker[Tx]) compare(ctx context.Context, live, shadow Generation, d Differ[Tx], rs reconcileSettings) (ReconcileReport, error) {
	rep := ReconcileReport{Projection: w.p.Name, Live: live.Number, Shadow: shadow.Number}
	b := newBuild(w, shadow, Rebuild, false)
	if rs.progress != nil {
		b.report = append(b.report, rs.progress)
	}
	prog := newProgressTracker(w.r, w.p.Name, shadow.Number, shadow.Checkpoint, b.report)
	upTo := live.Checkpoint
	for attempt := 1; ; attempt++ {
		n, err := b.feed(ctx, upTo, prog)
		rep.Events += n
		if err != nil {
			return rep, fmt.Errorf("reconcile %s: %w", b.label(), err)
		}
		cp, last, tables, err := b.compareLocked(ctx, live.Number, d, rs.rows)
		var hf *handlerFailure
		switch {
		case err == nil:
			rep.Events += last
			prog.report(ctx, Rebuild, last, cp, true)
			rep.Checkpoint, rep.Tables = cp, tables
			rep.Head, _ = w.r.head(ctx)
			w.r.log.Info("projection reconciled", "projection", w.p.Name, "checkpoint", cp.String(), "mismatches", rep.Mismatches())
			return rep, nil
		case (errors.As(err, &hf) || errors.Is(err, ErrTargetUnavailable)) && attempt < reconcileAttempts && ctx.Err() == nil:
			upTo = cp // catch up the usual way, then try again
		default:
			return rep, fmt.Errorf("reconcile %s: compare with generation %d: %w", b.label(), live.Number, err)
		}
	}
}

// compareLocked is compare's last step, in one Write rolled back at the end. It
// returns the live checkpoint both were compared at, the events it applied to the
// shadow to get there, and the comparison.
func (b *build[Tx]) compareLocked(ctx context.Context, live int, d Differ[Tx], limit int) (eventstore.Position, uint64, []TableDiff, error) {
	var cp eventstore.Position
	var applied uint64
	var tables []TableDiff
	err := b.w.r.target.Write(ctx, b.w.p.Name, func(wr Writer[Tx]) error {
		gens, err := wr.Generations(ctx)
		if err != nil {
			return err
		}
		lg, sg := findGen(gens, live), findGen(gens, b.g.Number)
		switch {
		case lg.State != Active:
			return fmt.Errorf("%w: generation %d was replaced while it was being reconciled", ErrRetired, live)
		case sg.State != Building || sg.Checkpoint != b.cp:
			return fmt.Errorf("%w: the shadow generation %d was taken over by another runner", ErrCheckpointMoved, b.g.Number)
		}
		cp = lg.Checkpoint
		tx := wr.Tx(ctx, b.g)
		if applied, err = b.applyInTx(ctx, tx, cp); err != nil {
			return err
		}
		if tables, err = d.Diff(ctx, tx, b.w.p.Name, live, b.g.Number, limit); err != nil {
			return err
		}
		return errCompared
	})
	if errors.Is(err, errCompared) {
		return cp, applied, tables, nil
	}
	return cp, 0, nil, err
}

// findGen returns generation n of gens (the zero Generation if it is not there).
func findGen(gens []Generation, n int) Generation {
	for _, g := range gens {
		if g.Number == n {
			return g
		}
	}
	return Generation{}
}

// applyInTx applies to the shadow, through tx, the events after its checkpoint up
// to and including upTo, in Rebuild mode, without moving its checkpoint or guards
// (the transaction is rolled back). A handler failure is returned as a
// *handlerFailure.
func (b *build[Tx]) applyInTx(ctx context.Context, tx Tx, upTo eventstore.Position) (uint64, error) {
	if upTo.Compare(b.cp) <= 0 {
		return 0, nil
	}
	var n uint64
	for e, err := range b.w.r.store.ReadAll(ctx, b.cp, b.w.opts...) {
		if err != nil {
			return n, fmt.Errorf("read events: %w", err)
		}
		if e.Position.Compare(upTo) > 0 {
			break
		}
		if err := callback.Call(b.handle, func() error { return b.w.p.Handle(ctx, tx, Event{RecordedEvent: e, Mode: Rebuild}) }); err != nil {
			return n, &handlerFailure{err: err}
		}
		n++
	}
	return n, nil
}

// feed applies the events after the build's checkpoint, up to and including
// position upTo, in batches, and returns how many it read.
func (b *build[Tx]) feed(ctx context.Context, upTo eventstore.Position, prog *progressTracker[Tx]) (uint64, error) {
	r := b.w.r
	var n uint64
	batch := make([]eventstore.RecordedEvent, 0, r.set.catchUpBatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := b.apply(ctx, batch, true, nil); err != nil {
			return err
		}
		prog.report(ctx, Rebuild, uint64(len(batch)), b.cp, false)
		n += uint64(len(batch))
		batch = batch[:0]
		return nil
	}
	if upTo.Compare(b.cp) <= 0 {
		return 0, nil
	}
	for e, err := range r.store.ReadAll(ctx, b.cp, b.w.opts...) {
		if err != nil {
			return n, fmt.Errorf("read events: %w", err)
		}
		if e.Position.Compare(upTo) > 0 {
			break
		}
		if batch = append(batch, e); len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}
