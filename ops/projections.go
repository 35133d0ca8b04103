package ops

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// projectionRow is one projection or reactor of the projections listing.
type projectionRow struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Generation and Version are the active generation's (0 when none is).
	Generation int                 `json:"generation"`
	Version    int                 `json:"version"`
	State      string              `json:"state"`
	Checkpoint eventstore.Position `json:"checkpoint"`
	Head       eventstore.Position `json:"head"`
	// Lag counts events after the checkpoint: those the projection wants when
	// LagExact (the application's command knows its filters), otherwise every
	// event (an upper bound). LagCapped: the count stopped at the limit.
	Lag       uint64       `json:"lag"`
	LagExact  bool         `json:"lag_exact"`
	LagCapped bool         `json:"lag_capped,omitempty"`
	Parked    int          `json:"parked"`
	Building  *buildingRow `json:"building,omitempty"`
	Updated   time.Time    `json:"updated"`
}

// buildingRow is a generation being built beside the active one.
type buildingRow struct {
	Generation int                 `json:"generation"`
	Version    int                 `json:"version"`
	Checkpoint eventstore.Position `json:"checkpoint"`
}

// lagCounter counts a projection's lag after a checkpoint; exact is false when it
// counts every event rather than those the projection wants.
type lagCounter func(ctx context.Context, name string, after eventstore.Position) (n uint64, capped, exact bool, err error)

// allEventsLag counts every event after the checkpoint, up to the runner's
// default lag limit: what can be told without the projection's filters.
func allEventsLag(store eventstore.Store) lagCounter {
	return func(ctx context.Context, _ string, after eventstore.Position) (uint64, bool, bool, error) {
		var n uint64
		for _, err := range store.ReadAll(ctx, after, eventstore.Limit(projection.DefaultLagLimit)) {
			if err != nil {
				return n, false, false, err
			}
			n++
		}
		return n, n >= projection.DefaultLagLimit, n == 0, nil
	}
}

// runnerLag counts with the application's runner, which knows its projections'
// filters, and falls back to every event for names it does not run.
func runnerLag(r appRunner, store eventstore.Store) lagCounter {
	fallback := allEventsLag(store)
	return func(ctx context.Context, name string, after eventstore.Position) (uint64, bool, bool, error) {
		n, capped, err := r.Lag(ctx, name, after)
		if err != nil {
			return fallback(ctx, name, after)
		}
		return n, capped, true, nil
	}
}

// listProjections gathers every name the read model records.
func listProjections(ctx context.Context, store eventstore.Store, book bookkeeping, lag lagCounter) ([]projectionRow, error) {
	names, err := book.Names(ctx)
	if err != nil {
		return nil, err
	}
	head, err := headOf(ctx, store)
	if err != nil {
		return nil, err
	}
	rows := []projectionRow{}
	for _, name := range names {
		gens, err := book.Generations(ctx, name)
		if err != nil {
			return nil, err
		}
		row := projectionRowOf(name, gens, head)
		if row.Lag, row.LagCapped, row.LagExact, err = lag(ctx, name, row.Checkpoint); err != nil {
			return nil, fmt.Errorf("lag of %s: %w", name, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// projectionRowOf sums up the generations of name.
func projectionRowOf(name string, gens []projection.Generation, head eventstore.Position) projectionRow {
	row := projectionRow{Name: name, State: projection.Retired.String(), Head: head}
	for _, g := range gens {
		row.Kind = g.Kind.String()
		switch g.State {
		case projection.Active:
			row.Generation, row.Version, row.State, row.Checkpoint, row.Updated = g.Number, g.Version, g.State.String(), g.Checkpoint, g.Updated
			row.Parked += g.Parked
		case projection.Building:
			row.Building = &buildingRow{Generation: g.Number, Version: g.Version, Checkpoint: g.Checkpoint}
			row.Parked += g.Parked
		}
	}
	if row.Generation == 0 && row.Building != nil {
		row.State = projection.Building.String()
	}
	return row
}

// headOf is the position of the last event of the log.
func headOf(ctx context.Context, store eventstore.Store) (eventstore.Position, error) {
	if h, ok := store.(eventstore.HeadReader); ok {
		return h.Head(ctx)
	}
	var last eventstore.Position
	for e, err := range store.ReadAll(ctx, eventstore.Start()) {
		if err != nil {
			return last, err
		}
		last = e.Position
	}
	return last, nil
}

// lagText is how a lag reads in a table: "12", "≥10000" (capped), "≤37" (every
// event counted, an upper bound).
func lagText(r projectionRow) string {
	n := strconv.FormatUint(r.Lag, 10)
	switch {
	case r.LagCapped:
		return "≥" + n
	case !r.LagExact:
		return "≤" + n
	}
	return n
}

func renderProjections(w io.Writer, rows []projectionRow) error {
	if len(rows) == 0 {
		printf(w, "no projections in this read model\n")
		return nil
	}
	t := newTable(w, "NAME", "KIND", "GENERATION", "VERSION", "STATE", "CHECKPOINT", "HEAD", "LAG", "PARKED", "BUILDING")
	for _, r := range rows {
		building := "-"
		if b := r.Building; b != nil {
			building = fmt.Sprintf("generation %d (version %d) at %s", b.Generation, b.Version, pos(b.Checkpoint))
		}
		gen, version := "-", "-"
		if r.Generation > 0 {
			gen, version = strconv.Itoa(r.Generation), strconv.Itoa(r.Version)
		}
		t.row(r.Name, r.Kind, gen, version, r.State, pos(r.Checkpoint), pos(r.Head), lagText(r), strconv.Itoa(r.Parked), building)
	}
	return t.flush()
}

func projectionsCommand(c *config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "projections",
		Short: "List projections and reactors: generation, version, state, checkpoint, head, lag, parked",
		Long: `List the projections and reactors the read model records: the active generation and the
code version that built it, its state, its checkpoint, the head of the log, the lag, the
parked events, and a generation being built beside it, if any.

The lag counts the events after the checkpoint. The application's own command knows which
events each projection wants and counts those (exact); idem alone does not, and counts
every event, so its figure is an upper bound, shown as ≤N (a projection caught up with
the last event it wants can show ≤N with N > 0). Counts stop at 10000 (≥10000).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := needs{store: readOnly, read: readOnly, app: c.app != nil}
			return c.run(cmd, n, func(ctx context.Context, s *session) error {
				lag := allEventsLag(s.store)
				if s.runner != nil {
					lag = runnerLag(s.runner, s.store)
				}
				rows, err := listProjections(ctx, s.store, s.read.book, lag)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				return renderProjections(cmd.OutOrStdout(), rows)
			})
		},
	}
	addJSON(cmd, &asJSON)
	return cmd
}
