package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idemkit/idem/projection"
)

// checkProjection fails unless the application runs a projection of that name.
func checkProjection(r appRunner, name string) error {
	var names []string
	for _, s := range r.Stats() {
		if !s.Reactor {
			names = append(names, s.Name)
		}
	}
	if slices.Contains(names, name) {
		return nil
	}
	return fmt.Errorf("no projection %q in this application (its projections: %s)", name, strings.Join(names, ", "))
}

func rebuildCommand(c *config) *cobra.Command {
	var fresh bool
	cmd := &cobra.Command{
		Use:   "rebuild PROJECTION",
		Short: "Rebuild a projection from history beside the live one, then switch readers to it",
		Long: `Build a new generation of the projection from position zero with this binary's code, beside
the live generation, which readers keep reading; once it has caught up with the log,
switch readers to it in one transaction (blue/green, G9) and drop the old one. Handlers
see Mode Rebuild; reactors do not run.

Progress goes to standard error: a bar with events per second, the time left and the lag
on a terminal, a line a second otherwise. Ctrl-C stops it and leaves the live generation
untouched; the partial generation stays, and running rebuild again resumes it (--fresh
starts over).`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			view := newProgressView(cmd.ErrOrStderr(), "rebuild "+args[0])
			n := needs{store: readOnly, read: readWrite, app: true,
				runnerOpts: []projection.Option{projection.WithProgressInterval(view.interval())}, logTo: view}
			return c.run(cmd, n, func(ctx context.Context, s *session) error {
				return rebuild(ctx, cmd, s, view, args[0], fresh)
			})
		},
	}
	cmd.Flags().BoolVar(&fresh, "fresh", false, "start over instead of resuming a partial rebuild")
	return cmd
}

func rebuild(ctx context.Context, cmd *cobra.Command, s *session, view *progressView, name string, fresh bool) error {
	if err := checkProjection(s.runner, name); err != nil {
		return err
	}
	opts := []projection.RebuildOption{projection.WithRebuildProgress(view.update)}
	if fresh {
		opts = append(opts, projection.WithFreshStart())
	}
	err := s.runner.Rebuild(ctx, name, opts...)
	view.end()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("rebuild of %s stopped: the live generation is untouched; run rebuild again to resume: %w",
				name, context.Cause(ctx))
		}
		return err
	}
	gens, err := s.read.book.Generations(ctx, name)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if g.State == projection.Active {
			printf(cmd.OutOrStdout(), "rebuilt %s: generation %d (version %d) is live, at checkpoint %s\n",
				name, g.Number, g.Version, pos(g.Checkpoint))
			return nil
		}
	}
	return errors.New("rebuilt, but no generation is active")
}
