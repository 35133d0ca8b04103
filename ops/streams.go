package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// streamRow is one stream of the streams listing.
type streamRow struct {
	Name         string              `json:"name"`
	Events       uint64              `json:"events"`
	LastRevision uint64              `json:"last_revision"`
	LastPosition eventstore.Position `json:"last_position"`
	LastWrite    time.Time           `json:"last_write"`
}

// listStreams gathers the streams of category ("" for all), at most limit of them
// (0: all).
func listStreams(ctx context.Context, store eventstore.Store, category string, limit int) ([]streamRow, error) {
	filter := eventstore.StreamFilter{}
	if category != "" {
		filter.Prefix = category + "-"
	}
	rows := []streamRow{}
	for s, err := range eventstore.ListStreams(ctx, store, filter) {
		if err != nil {
			return nil, err
		}
		rows = append(rows, streamRow{Name: s.Name, Events: s.Events, LastRevision: s.LastRevision,
			LastPosition: s.LastPosition, LastWrite: s.LastWrite})
		if limit > 0 && len(rows) == limit {
			break
		}
	}
	return rows, nil
}

func renderStreams(w io.Writer, rows []streamRow) error {
	if len(rows) == 0 {
		printf(w, "no streams\n")
		return nil
	}
	t := newTable(w, "STREAM", "EVENTS", "LAST REVISION", "LAST POSITION", "LAST WRITE")
	for _, r := range rows {
		t.row(r.Name, strconv.FormatUint(r.Events, 10), strconv.FormatUint(r.LastRevision, 10), pos(r.LastPosition), when(r.LastWrite))
	}
	return t.flush()
}

func streamsCommand(c *config) *cobra.Command {
	var category string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "streams",
		Short: "List the streams: event count, last revision, position and write",
		Long: `List the streams of the store, by name, with their event count, the revision and global
position of their last event and when it was written. --category keeps one category's
streams (invoice: the streams invoice-*); --limit stops after that many. On SQLite the listing reads the stream index
only; on EventStoreDB it reads the whole log.`,
		Example: `  idem --store events.db streams --category invoice`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if category != "" {
				if err := aggregate.ValidateCategory(category); err != nil {
					return &usageError{err}
				}
			}
			if limit < 0 {
				return usagef("--limit %d: want 0 (all) or more", limit)
			}
			return c.run(cmd, needs{store: readOnly}, func(ctx context.Context, s *session) error {
				rows, err := listStreams(ctx, s.store, category, limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				return renderStreams(cmd.OutOrStdout(), rows)
			})
		},
	}
	cmd.Flags().StringVar(&category, "category", "", "only the streams of this category (the part of a stream name before its first '-')")
	cmd.Flags().IntVar(&limit, "limit", 0, "most streams to list (0: all)")
	addJSON(cmd, &asJSON)
	return cmd
}

// eventRow is one event of the stream listing.
type eventRow struct {
	Revision      uint64              `json:"revision"`
	Position      eventstore.Position `json:"position"`
	Type          string              `json:"type"`
	ID            string              `json:"id"`
	CommandID     string              `json:"command_id,omitempty"`
	CommandType   string              `json:"command_type,omitempty"`
	CorrelationID string              `json:"correlation_id,omitempty"`
	CausationID   string              `json:"causation_id,omitempty"`
	RecordedAt    time.Time           `json:"recorded_at"`
	Data          json.RawMessage     `json:"data"`
}

// readEvents gathers up to limit events of stream from revision from.
func readEvents(ctx context.Context, store eventstore.Store, stream string, from uint64, limit int) ([]eventRow, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, &usageError{err}
	}
	rows := []eventRow{}
	for e, err := range store.ReadStream(ctx, stream, from, eventstore.Limit(limit)) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, fmt.Errorf("stream %q does not exist", stream)
		}
		if err != nil {
			return nil, err
		}
		r := eventRow{Revision: e.Revision, Position: e.Position, Type: e.Type, ID: e.ID.String(), RecordedAt: e.RecordedAt,
			Data: rawJSON(e.Data)}
		if m, err := command.DecodeMetadata(e.Metadata); err == nil {
			r.CommandID, r.CommandType, r.CorrelationID, r.CausationID = m.CommandID, m.CommandType, m.CorrelationID, m.CausationID
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func renderEvents(w io.Writer, rows []eventRow) error {
	if len(rows) == 0 {
		printf(w, "no events in that range\n")
		return nil
	}
	t := newTable(w, "REVISION", "POSITION", "TYPE", "COMMAND", "RECORDED")
	for _, r := range rows {
		t.row(strconv.FormatUint(r.Revision, 10), pos(r.Position), r.Type, orDash(r.CommandID), when(r.RecordedAt))
	}
	return t.flush()
}

func streamCommand(c *config) *cobra.Command {
	var from uint64
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stream NAME",
		Short: "List the events of a stream: revision, position, type, command id, time",
		Long: `List the events of one stream from revision --from (0), at most --limit of them (100; 0
for all), with their global position, type, the id of the command that wrote them, and
when. --json adds the event ids, the command's type, correlation and causation ids, and
the data.`,
		Example: `  idem --store events.db stream invoice-0b4c… --from 10 --limit 5`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return usagef("--limit %d: want 0 (all) or more", limit)
			}
			return c.run(cmd, needs{store: readOnly}, func(ctx context.Context, s *session) error {
				rows, err := readEvents(ctx, s.store, args[0], from, limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				return renderEvents(cmd.OutOrStdout(), rows)
			})
		},
	}
	cmd.Flags().Uint64Var(&from, "from", 0, "first revision to list")
	cmd.Flags().IntVar(&limit, "limit", 100, "most events to list (0: all)")
	addJSON(cmd, &asJSON)
	return cmd
}
