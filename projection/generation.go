package projection

import (
	"context"
	"fmt"

	"github.com/idemkit/idem/internal/callback"
)

// step is what a runner does with a projection, given the generations its target
// records and the Version of the runner's code.
type step uint8

const (
	// stepFirst: no generation is active: create one, active at once, and build
	// it in CatchUp mode (there is nothing to switch from).
	stepFirst step = iota + 1
	// stepContinue: the active generation was built by this code version: go on
	// with it from its checkpoint.
	stepContinue
	// stepResume: a generation of this code version is being built beside the
	// active one: go on building it from its checkpoint.
	stepResume
	// stepBuild: create a generation and build it beside the active one, from
	// position zero, in Rebuild mode.
	stepBuild
	// stepAside: the active generation was built by newer code: leave it alone.
	stepAside
)

// plan is a step and the generation it concerns (the one to run, for every step
// but stepAside, where it is the active one).
type plan struct {
	step step
	gen  Generation
}

// decide is the one place where a runner chooses what to do with a projection
// (G9), from its generations and the code's version. With rebuild set a new build
// is wanted even if the active generation has this version (Runner.Rebuild); with
// fresh set a partial build of this version is not resumed.
func decide(gens []Generation, version int, rebuild, fresh bool) (plan, error) {
	var active *Generation
	for i, g := range gens {
		if g.State != Active {
			continue
		}
		if active != nil {
			return plan{}, &CorruptError{What: "generations of " + quoteShort(g.Name),
				Reason: fmt.Sprintf("generations %d and %d are both active", active.Number, g.Number)}
		}
		active = &gens[i]
	}
	switch {
	case active == nil:
		return plan{step: stepFirst}, nil
	case active.Version > version:
		return plan{step: stepAside, gen: *active}, nil
	case active.Version == version && !rebuild:
		return plan{step: stepContinue, gen: *active}, nil
	}
	if !fresh {
		for i := len(gens) - 1; i >= 0; i-- {
			if g := gens[i]; g.State == Building && g.Version == version {
				return plan{step: stepResume, gen: g}, nil
			}
		}
	}
	return plan{step: stepBuild}, nil
}

// nextNumber is the number of the next generation.
func nextNumber(gens []Generation) int {
	n := 0
	for _, g := range gens {
		n = max(n, g.Number)
	}
	return n + 1
}

// checkKind fails if gens belong to the other kind of worker: a projection and a
// reactor of the same name in one target would share bookkeeping.
func checkKind(gens []Generation, want Kind) error {
	for _, g := range gens {
		if g.Kind != want {
			return fmt.Errorf("%w: the name is used by a %s in the target", ErrInvalidProjection, g.Kind)
		}
	}
	return nil
}

// prepare decides what to do with the projection and does it in one Write:
// creates the generation to build (running Setup), and activates it at once if it
// is the first. It is retried when the target fails transiently (a read model
// locked at start). Retired generations' tables are dropped afterwards.
func (w *projWorker[Tx]) prepare(ctx context.Context, rebuild, fresh bool) (plan, error) {
	r, p := w.r, w.p
	var pl plan
	var gens []Generation
	err := r.retrying(ctx, "prepare "+label(p.Name, false, 0), func() error {
		return r.target.Write(ctx, p.Name, func(wr Writer[Tx]) error {
			var err error
			if gens, err = wr.Generations(ctx); err != nil {
				return err
			}
			if err := checkKind(gens, KindProjection); err != nil {
				return err
			}
			if pl, err = decide(gens, p.Version, rebuild, fresh); err != nil {
				return err
			}
			if pl.step != stepFirst && pl.step != stepBuild {
				return nil
			}
			if fresh {
				// Told not to resume it: a partial build of this version is waste.
				for i, g := range gens {
					if g.State == Building && g.Version == p.Version {
						if err := wr.Retire(ctx, g.Number); err != nil {
							return err
						}
						gens[i].State = Retired
					}
				}
			}
			g := Generation{Name: p.Name, Number: nextNumber(gens), Kind: KindProjection, Version: p.Version,
				State: Building, Tables: p.Tables}
			setup := func(tx Tx) error {
				return callback.Call(label(p.Name, false, g.Number)+" Setup", func() error { return p.Setup(ctx, tx) })
			}
			if err := wr.Create(ctx, g, setup); err != nil {
				return fmt.Errorf("create generation %d: %w", g.Number, err)
			}
			if pl.step == stepFirst {
				if err := wr.Activate(ctx, g.Number); err != nil {
					return fmt.Errorf("activate generation %d: %w", g.Number, err)
				}
				g.State = Active
			}
			pl.gen = g
			return nil
		})
	})
	if err != nil {
		return pl, fmt.Errorf("prepare %s: %w", label(p.Name, false, 0), err)
	}
	if pl.step == stepFirst || pl.step == stepBuild {
		r.log.Info("projection generation created", "projection", p.Name, "generation", pl.gen.Number,
			"version", p.Version, "state", pl.gen.State.String())
	}
	w.dropRetired(ctx, gens)
	return pl, nil
}

// dropRetired drops the tables of the retired generations among gens that still
// have them, each in its own Write. A failure is logged, not returned: the
// generation is retired already, readers do not see it, and the next start tries
// again.
func (w *projWorker[Tx]) dropRetired(ctx context.Context, gens []Generation) {
	for _, g := range gens {
		if g.State != Retired || len(g.Tables) == 0 {
			continue
		}
		err := w.r.target.Write(ctx, w.p.Name, func(wr Writer[Tx]) error { return wr.Drop(ctx, g.Number) })
		if err != nil {
			w.r.log.Warn("retired projection generation not dropped; the next start tries again",
				"projection", w.p.Name, "generation", g.Number, "error", err)
			continue
		}
		w.r.log.Info("retired projection generation dropped", "projection", w.p.Name, "generation", g.Number)
	}
}
