package projection

import (
	"context"
	"fmt"
)

// RebuildOption configures Runner.Rebuild. An option given a value out of its range
// makes Rebuild fail with an error matching ErrInvalidOption.
type RebuildOption func(*rebuildSettings) error

type rebuildSettings struct {
	progress func(Progress)
	fresh    bool
}

// WithRebuildProgress sets a function called with the rebuild's progress, besides
// the runner's own WithProgress.
func WithRebuildProgress(f func(Progress)) RebuildOption {
	return func(s *rebuildSettings) error {
		if f == nil {
			return invalidOption("WithRebuildProgress", "nil function")
		}
		s.progress = f
		return nil
	}
}

// WithFreshStart makes Rebuild retire a partial generation left building by an
// earlier, cancelled Rebuild of the same version and start a new one from position
// zero, instead of resuming it. Use it when the partial generation was built by
// code that has changed since without a new Version.
func WithFreshStart() RebuildOption {
	return func(s *rebuildSettings) error {
		s.fresh = true
		return nil
	}
}

// Rebuild builds a new generation of projection name from position zero, with this
// runner's code, beside the active generation (readers keep reading the active
// one), and switches readers to it in one transaction once it has caught up with
// the log (G9). It reports progress as WithProgress and WithRebuildProgress say,
// and returns once switched; the retired generation's tables are then dropped.
// Handlers see Mode Rebuild; reactors are not run (G10).
//
// No code change is needed: the new generation has the same Version. If Run is
// running in this runner, it moves to the new generation once switched; a runner
// in another process moves to it at its next batch (see Generation).
//
// If ctx ends first, Rebuild returns its error and the active generation is
// untouched; the partial generation stays Building, and a later Rebuild resumes it
// from its checkpoint (unless WithFreshStart). Rebuild fails with ErrRunning if a
// build of the projection is already running in this runner, with ErrSteppedAside
// if the active generation was built by newer code, and with ErrRetired if another
// runner switched in a generation before this one caught up.
func (r *Runner[Tx]) Rebuild(ctx context.Context, name string, opts ...RebuildOption) error {
	var rs rebuildSettings
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&rs); err != nil {
			return fmt.Errorf("rebuild projection %s: %w", quoteShort(name), err)
		}
	}
	w, err := r.projection(name)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	if err := r.init(ctx); err != nil {
		return err
	}
	if !w.tryBuild() {
		return fmt.Errorf("rebuild %s: %w: a build of it is running in this runner", label(name, false, 0), ErrRunning)
	}
	defer w.releaseBuild()
	pl, err := w.prepare(ctx, true, rs.fresh)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	mode := Rebuild
	switch pl.step {
	case stepAside:
		return fmt.Errorf("rebuild %s: %w: generation %d, active, was built by version %d; this runner has version %d",
			label(name, false, 0), ErrSteppedAside, pl.gen.Number, pl.gen.Version, w.p.Version)
	case stepFirst:
		mode = CatchUp // nothing to switch from: active at once, as Run would build it
	}
	b := newBuild(w, pl.gen, mode, false)
	if rs.progress != nil {
		b.report = append(b.report, rs.progress)
	}
	r.log.Info("projection rebuild started", "projection", name, "generation", pl.gen.Number, "checkpoint", pl.gen.Checkpoint.String())
	if err := b.follow(ctx, true); err != nil {
		if ctx.Err() != nil {
			r.log.Info("projection rebuild cancelled; the generation stays building and a later Rebuild resumes it",
				"projection", name, "generation", pl.gen.Number, "checkpoint", b.cp.String())
			return fmt.Errorf("rebuild %s: cancelled, generation %d stays building (a later Rebuild resumes it): %w",
				label(name, false, 0), pl.gen.Number, ctx.Err())
		}
		return fmt.Errorf("rebuild: %w", err)
	}
	w.signalReload()
	return nil
}

// switchOver makes the generation, caught up, the active one (G9). In one Write it
// retires the active generation and the older partial builds, and activates this
// one: readers see the old read model or the new one, never a mix. If a
// generation built by newer code was switched in first, this one is retired
// instead, and switchOver fails with ErrRetired. The retired generations' tables
// are dropped afterwards.
func (b *build[Tx]) switchOver(ctx context.Context) error {
	r, p, n := b.w.r, b.w.p, b.g.Number
	var newer *Generation
	err := r.retrying(ctx, "switch readers to "+b.label(), func() error {
		newer = nil
		return r.target.Write(ctx, p.Name, func(wr Writer[Tx]) error {
			if err := wr.Claim(ctx, n); err != nil {
				return err
			}
			gens, err := wr.Generations(ctx)
			if err != nil {
				return err
			}
			for _, g := range gens {
				if g.State == Active && g.Version > b.g.Version {
					newer = &g
					return wr.Retire(ctx, n)
				}
			}
			for _, g := range gens {
				if g.Number != n && (g.State == Active || (g.State == Building && g.Version <= b.g.Version)) {
					if err := wr.Retire(ctx, g.Number); err != nil {
						return err
					}
				}
			}
			return wr.Activate(ctx, n)
		})
	})
	if err != nil {
		return fmt.Errorf("%s: switch readers to it: %w", b.label(), err)
	}
	if newer != nil {
		r.log.Info("projection generation retired before its switch: newer code switched in first", "projection", p.Name,
			"generation", n, "active", newer.Number, "active_version", newer.Version)
		return fmt.Errorf("%s: %w: generation %d, built by version %d, was switched in first",
			b.label(), ErrRetired, newer.Number, newer.Version)
	}
	b.g.State = Active
	b.unlock()
	r.log.Info("projection switched to generation", "projection", p.Name, "generation", n, "checkpoint", b.cp.String())
	gens, err := r.target.Generations(ctx, p.Name)
	if err != nil {
		r.log.Warn("retired projection generations not dropped; the next start tries again", "projection", p.Name, "error", err)
		return nil
	}
	b.w.dropRetired(ctx, gens)
	return nil
}
