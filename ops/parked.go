package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// parkedRow is one parked event.
type parkedRow struct {
	Projection string              `json:"projection"`
	Generation int                 `json:"generation"`
	EventID    string              `json:"event_id"`
	Stream     string              `json:"stream"`
	Revision   uint64              `json:"revision"`
	Position   eventstore.Position `json:"position"`
	Type       string              `json:"type"`
	CommandID  string              `json:"command_id,omitempty"`
	RecordedAt time.Time           `json:"recorded_at"`
	Attempts   int                 `json:"attempts"`
	ParkedAt   time.Time           `json:"parked_at"`
	Error      string              `json:"error"`
	Data       json.RawMessage     `json:"data,omitempty"`
}

func parkedRowOf(pe projection.ParkedEvent, withData bool) parkedRow {
	e := pe.Event
	row := parkedRow{Projection: pe.Projection, Generation: pe.Generation, EventID: e.ID.String(), Stream: e.Stream,
		Revision: e.Revision, Position: e.Position, Type: e.Type, RecordedAt: e.RecordedAt, Attempts: pe.Attempts,
		ParkedAt: pe.ParkedAt, Error: pe.Err}
	if m, err := command.DecodeMetadata(e.Metadata); err == nil {
		row.CommandID = m.CommandID
	}
	if withData {
		row.Data = rawJSON(e.Data)
	}
	return row
}

// listParked gathers the parked events of names (every name when none).
func listParked(ctx context.Context, book bookkeeping, names []string) ([]parkedRow, error) {
	if len(names) == 0 {
		var err error
		if names, err = book.Names(ctx); err != nil {
			return nil, err
		}
	} else if err := knownNames(ctx, book, names); err != nil {
		return nil, err
	}
	rows := []parkedRow{}
	for _, name := range names {
		list, err := book.Parked(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, pe := range list {
			rows = append(rows, parkedRowOf(pe, false))
		}
	}
	return rows, nil
}

// errUnknownName: the read model records no projection or reactor of that name.
var errUnknownName = errors.New("no projection or reactor of that name in the read model")

// knownNames fails unless the read model records every one of names.
func knownNames(ctx context.Context, book bookkeeping, names []string) error {
	for _, name := range names {
		gens, err := book.Generations(ctx, name)
		if err != nil {
			return err
		}
		if len(gens) == 0 {
			return fmt.Errorf("%q: %w", name, errUnknownName)
		}
	}
	return nil
}

// findParked returns the parked event id of name.
func findParked(ctx context.Context, book bookkeeping, name, id string) (projection.ParkedEvent, error) {
	eid, err := uuid.Parse(id)
	if err != nil {
		return projection.ParkedEvent{}, usagef("event id %q: %v", id, err)
	}
	if err := knownNames(ctx, book, []string{name}); err != nil {
		return projection.ParkedEvent{}, err
	}
	list, err := book.Parked(ctx, name)
	if err != nil {
		return projection.ParkedEvent{}, err
	}
	for _, pe := range list {
		if pe.Event.ID == eid {
			return pe, nil
		}
	}
	return projection.ParkedEvent{}, fmt.Errorf("event %s of %s: %w", id, name, projection.ErrParkedNotFound)
}

// cause is the handler's own error in a parked event's error text, which names
// the projection and the event first (a *projection.HandlerError's text).
func cause(text string) string {
	if _, c, ok := strings.Cut(text, " attempts: "); ok {
		return c
	}
	return text
}

func renderParked(w io.Writer, rows []parkedRow) error {
	if len(rows) == 0 {
		printf(w, "no parked events\n")
		return nil
	}
	t := newTable(w, "PROJECTION", "GENERATION", "EVENT", "STREAM", "REVISION", "TYPE", "ATTEMPTS", "PARKED", "ERROR")
	for _, r := range rows {
		t.row(r.Projection, strconv.Itoa(r.Generation), r.EventID, r.Stream, strconv.FormatUint(r.Revision, 10), r.Type,
			strconv.Itoa(r.Attempts), when(r.ParkedAt), short(oneLine(cause(r.Error)), 60))
	}
	return t.flush()
}

func renderParkedEvent(w io.Writer, r parkedRow) error {
	printf(w, "parked event %s of %s (generation %d)\n", r.EventID, r.Projection, r.Generation)
	printf(w, "  stream    %s at revision %d, position %s\n", r.Stream, r.Revision, pos(r.Position))
	printf(w, "  type      %s\n  command   %s\n  recorded  %s\n", r.Type, orDash(r.CommandID), when(r.RecordedAt))
	printf(w, "  parked    %s after %d attempts\n  error     %s\n", when(r.ParkedAt), r.Attempts, oneLine(r.Error))
	printf(w, "  data      %s\n", r.Data)
	return nil
}

func parkedCommand(c *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "parked",
		Short: "List, show, retry or skip parked events (the dead letters of projections)",
		Long: `A projection or reactor with PoisonPark sets aside an event whose handler keeps failing
and goes on: the event is parked. List and show parked events, then, once the handler is
fixed, retry them (the handler applies the event, exactly once, and it is unparked) or
skip them (unparked without being applied).

retry runs the projection's handler, which is the application's code: it exists in the
application's own binary (its ops command), not in idem.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return usagef("parked: give a subcommand: list, show, retry or skip")
		},
	}
	cmd.AddCommand(parkedListCommand(c), parkedShowCommand(c), parkedRetryCommand(c), parkedSkipCommand(c))
	return cmd
}

func parkedListCommand(c *config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [PROJECTION...]",
		Short: "List parked events (of every projection and reactor, or of those named)",
		Args:  usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.run(cmd, needs{read: readOnly}, func(ctx context.Context, s *session) error {
				rows, err := listParked(ctx, s.read.book, args)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				return renderParked(cmd.OutOrStdout(), rows)
			})
		},
	}
	addJSON(cmd, &asJSON)
	return cmd
}

func parkedShowCommand(c *config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show PROJECTION EVENT-ID",
		Short: "Show one parked event: where it is from, its error, its data",
		Args:  usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.run(cmd, needs{read: readOnly}, func(ctx context.Context, s *session) error {
				pe, err := findParked(ctx, s.read.book, args[0], args[1])
				if err != nil {
					return err
				}
				row := parkedRowOf(pe, true)
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), row)
				}
				return renderParkedEvent(cmd.OutOrStdout(), row)
			})
		},
	}
	addJSON(cmd, &asJSON)
	return cmd
}

func parkedSkipCommand(c *config) *cobra.Command {
	return &cobra.Command{
		Use:   "skip PROJECTION EVENT-ID",
		Short: "Unpark an event without applying it: it will never be applied",
		Long: `Remove a parked event without running any handler: the read model will never include it
(its stream's guard has moved past it). Use it for an event that must not be applied (a
message published by mistake); use retry for one the fixed handler should apply.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.run(cmd, needs{read: readWrite}, func(ctx context.Context, s *session) error {
				pe, err := findParked(ctx, s.read.book, args[0], args[1])
				if err != nil {
					return err
				}
				if err := s.read.book.Unpark(ctx, pe.Projection, pe.Generation, pe.Event.ID); err != nil {
					return fmt.Errorf("skip parked event %s of %s: %w", pe.Event.ID, pe.Projection, err)
				}
				printf(cmd.OutOrStdout(), "skipped parked event %s of %s (generation %d): it will not be applied\n",
					pe.Event.ID, pe.Projection, pe.Generation)
				return nil
			})
		},
	}
}

func parkedRetryCommand(c *config) *cobra.Command {
	return &cobra.Command{
		Use:   "retry PROJECTION EVENT-ID",
		Short: "Run the handler on a parked event again (the application's command only)",
		Long: `Run the projection's handler on a parked event again. For a projection, the handler's
changes and the removal of the parked event commit together, so the event is applied
exactly once however often retry runs; on failure it stays parked, its attempts and error
updated. The generation must have been built by the running code's version.

The handler is the application's code: retry exists in the application's own binary
(mounted with ops.WithProjections), not in idem, which says so with exit status 2.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.app == nil {
				return usagef("parked retry runs %s's handler, which lives in the application: run it from the application's binary (its ops command)", args[0])
			}
			return c.run(cmd, needs{store: readOnly, read: readWrite, app: true}, func(ctx context.Context, s *session) error {
				pe, err := findParked(ctx, s.read.book, args[0], args[1])
				if err != nil {
					return err
				}
				if err := s.runner.RetryParked(ctx, pe.Projection, pe.Event.ID); err != nil {
					return err
				}
				printf(cmd.OutOrStdout(), "applied parked event %s of %s (generation %d): it is no longer parked\n",
					pe.Event.ID, pe.Projection, pe.Generation)
				return nil
			})
		},
	}
}
