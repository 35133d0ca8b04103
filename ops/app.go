package ops

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// RunnerFunc builds the application's projection runner over the store and the
// read model the command opened, with its projections and reactors added, as the
// application runs them. Pass opts to projection.NewRunner after the
// application's own options: they set what the command needs (its logger, how
// often progress is reported). cleanup, which may be nil, is called once the
// command is done with the runner (to close what the application opened for it,
// a mail service's database say).
type RunnerFunc[Tx any] func(ctx context.Context, store eventstore.Store, target projection.Target[Tx],
	opts ...projection.Option) (r *projection.Runner[Tx], cleanup func(), err error)

// WithProjections adds the commands that run the application's projections:
// rebuild, reconcile and parked retry; build returns the runner they use. The
// read model the command opens must be a target of the runner's Tx (for the
// SQLite read model, *sqlitetarget.Tx).
func WithProjections[Tx any](build RunnerFunc[Tx]) Option {
	return func(c *config) error {
		if build == nil {
			return fmt.Errorf("%w: WithProjections(nil)", ErrInvalidOption)
		}
		c.app = &app{build: func(ctx context.Context, store eventstore.Store, rm *readModel, opts []projection.Option) (appRunner, func(), error) {
			t, ok := rm.target.(projection.Target[Tx])
			if !ok {
				var tx Tx
				return nil, nil, fmt.Errorf("read model %s cannot hold this application's projections: they write through %T", rm.path, tx)
			}
			r, cleanup, err := build(ctx, store, t, opts...)
			if err != nil {
				return nil, nil, fmt.Errorf("build the application's projection runner: %w", err)
			}
			return r, cleanup, nil
		}}
		return nil
	}
}

// app is the application's side, with its Tx erased.
type app struct {
	build func(ctx context.Context, store eventstore.Store, rm *readModel, opts []projection.Option) (appRunner, func(), error)
}

// appRunner is what the commands use of a *projection.Runner[Tx].
type appRunner interface {
	Rebuild(ctx context.Context, name string, opts ...projection.RebuildOption) error
	Reconcile(ctx context.Context, name string, opts ...projection.ReconcileOption) (projection.ReconcileReport, error)
	RetryParked(ctx context.Context, name string, id uuid.UUID) error
	Lag(ctx context.Context, name string, after eventstore.Position) (uint64, bool, error)
	Stats() []projection.Stats
}
