package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// commandRow is one processed command.
type commandRow struct {
	ID            string     `json:"command_id"`
	Fingerprint   string     `json:"fingerprint"`
	Outcome       string     `json:"outcome"`
	Type          string     `json:"command_type,omitempty"`
	FirstRevision uint64     `json:"first_revision"`
	LastRevision  uint64     `json:"last_revision"`
	RecordedAt    time.Time  `json:"recorded_at"`
	Rejection     string     `json:"rejection,omitempty"`
	CorrelationID string     `json:"correlation_id,omitempty"`
	CausationID   string     `json:"causation_id,omitempty"`
	Events        []eventRow `json:"events,omitempty"`
}

func commandRowOf(r command.CommandRecord, withEvents bool) commandRow {
	row := commandRow{ID: r.ID, Fingerprint: r.Fingerprint, Outcome: r.Outcome(), Type: r.Metadata.CommandType,
		FirstRevision: r.FirstRevision, LastRevision: r.LastRevision, RecordedAt: r.RecordedAt, Rejection: r.Rejection,
		CorrelationID: r.Metadata.CorrelationID, CausationID: r.Metadata.CausationID}
	if withEvents {
		row.Events = []eventRow{}
		for _, e := range r.Events {
			row.Events = append(row.Events, eventRow{Revision: e.Revision, Position: e.Position, Type: e.Type, ID: e.ID.String(),
				CommandID: r.ID, RecordedAt: e.RecordedAt, Data: rawJSON(e.Data)})
		}
	}
	return row
}

// processedCommands gathers the processed set of an aggregate's stream.
func processedCommands(ctx context.Context, store eventstore.Store, stream string) ([]commandRow, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, &usageError{err}
	}
	rows := []commandRow{}
	for r, err := range command.Processed(ctx, store, stream) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, fmt.Errorf("stream %q does not exist", stream)
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, commandRowOf(r, false))
	}
	return rows, nil
}

// revisions formats a command's revisions: "3", or "3-5".
func revisions(first, last uint64) string {
	if first == last {
		return strconv.FormatUint(first, 10)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

func renderCommands(w io.Writer, rows []commandRow) error {
	if len(rows) == 0 {
		printf(w, "no commands recorded in this stream\n")
		return nil
	}
	t := newTable(w, "COMMAND", "FINGERPRINT", "OUTCOME", "REVISIONS", "RECORDED", "TYPE")
	for _, r := range rows {
		t.row(r.ID, short(r.Fingerprint, 13), r.Outcome, revisions(r.FirstRevision, r.LastRevision), when(r.RecordedAt), orDash(r.Type))
	}
	return t.flush()
}

func commandsCommand(c *config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "commands AGGREGATE-STREAM",
		Short: "List the commands an aggregate processed (its processed set)",
		Long: `List the commands recorded in an aggregate's stream, in the order they were processed:
command id, payload fingerprint, outcome (applied, or a recorded rejection or no-op), the
revisions of the events they wrote, when, and the command's type. This is the set the
command handler answers redeliveries from (G3), read from the stream itself, whatever
the handler's dedupe window or snapshots.`,
		Example: `  idem --store events.db commands payment-pay-42`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.run(cmd, needs{store: readOnly}, func(ctx context.Context, s *session) error {
				rows, err := processedCommands(ctx, s.store, args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				return renderCommands(cmd.OutOrStdout(), rows)
			})
		},
	}
	addJSON(cmd, &asJSON)
	return cmd
}

// commandReport is the answer of the command command.
type commandReport struct {
	Stream    string      `json:"stream"`
	CommandID string      `json:"command_id"`
	Processed bool        `json:"processed"`
	Command   *commandRow `json:"command,omitempty"`
}

// findCommand looks command id up in stream.
func findCommand(ctx context.Context, store eventstore.Store, stream, id string) (commandReport, error) {
	rep := commandReport{Stream: stream, CommandID: id}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return rep, &usageError{err}
	}
	rec, err := command.FindProcessed(ctx, store, stream, id)
	switch {
	case errors.Is(err, eventstore.ErrStreamNotFound):
		return rep, fmt.Errorf("stream %q does not exist", stream)
	case errors.Is(err, command.ErrCommandNotFound):
		return rep, nil
	case err != nil:
		return rep, err
	}
	row := commandRowOf(rec, true)
	rep.Processed, rep.Command = true, &row
	return rep, nil
}

func renderCommand(w io.Writer, rep commandReport) error {
	if !rep.Processed {
		printf(w, "command %q: not processed in %s\n", rep.CommandID, rep.Stream)
		return nil
	}
	r := rep.Command
	printf(w, "command %q: processed in %s, %s, at %s\n", r.ID, rep.Stream, r.Outcome, when(r.RecordedAt))
	printf(w, "  fingerprint  %s\n  type         %s\n", r.Fingerprint, orDash(r.Type))
	if r.CorrelationID != "" || r.CausationID != "" {
		printf(w, "  correlation  %s\n  causation    %s\n", orDash(r.CorrelationID), orDash(r.CausationID))
	}
	if r.Rejection != "" {
		printf(w, "  rejection    %s\n", oneLine(r.Rejection))
	}
	printf(w, "  events:\n")
	t := newTable(w, "    REVISION", "POSITION", "TYPE", "ID")
	for _, e := range r.Events {
		t.row("    "+strconv.FormatUint(e.Revision, 10), pos(e.Position), e.Type, e.ID)
	}
	return t.flush()
}

func commandCommand(c *config) *cobra.Command {
	var stream string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "command ID --stream AGGREGATE-STREAM",
		Short: "Tell whether a command was processed, when, and with which events",
		Long: `Look a command id up in an aggregate's stream: whether it was processed, when, with which
outcome and payload fingerprint, and the events it wrote. Exit status 1 when it was not
processed (as grep does), 0 when it was.`,
		Example: `  idem --store events.db command msg-7f3a --stream payment-pay-42`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stream == "" {
				return usagef("give the aggregate's stream with --stream")
			}
			return c.run(cmd, needs{store: readOnly}, func(ctx context.Context, s *session) error {
				rep, err := findCommand(ctx, s.store, stream, args[0])
				if err != nil {
					return err
				}
				if asJSON {
					err = writeJSON(cmd.OutOrStdout(), rep)
				} else {
					err = renderCommand(cmd.OutOrStdout(), rep)
				}
				if err == nil && !rep.Processed {
					return errMismatch
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&stream, "stream", "", "the aggregate's stream (required)")
	addJSON(cmd, &asJSON)
	return cmd
}
