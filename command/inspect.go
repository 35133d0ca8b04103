package command

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/reservation"
)

// ErrCommandNotFound: the stream records no command with that id.
var ErrCommandNotFound = errors.New("command not found")

// CommandRecord is one processed command as its aggregate's stream records it
// (G3): its entry of the processed set, the metadata it wrote, and its events.
type CommandRecord struct {
	ProcessedCommand
	// Stream is the aggregate's stream.
	Stream string
	// Metadata is the command metadata of its first event (command type,
	// correlation and causation ids, the command's own metadata).
	Metadata Metadata
	// Events are the events the command wrote, or its marker event.
	Events []eventstore.RecordedEvent
}

// Outcome is OutcomeApplied, OutcomeRejected (a recorded rejection) or OutcomeNoOp
// (a recorded no-op): the outcomes Handle counts, for the commands it records.
func (r CommandRecord) Outcome() string {
	switch {
	case r.Rejection != "":
		return OutcomeRejected
	case r.NoOp:
		return OutcomeNoOp
	default:
		return OutcomeApplied
	}
}

// CorruptRecordError reports a command record that cannot be read back: event
// metadata that claims to be idem's and does not decode, or a command whose events
// are not all there, in order. A reader of the processed set never skips one: the
// answer to "was this command processed?" would be a guess. It matches
// eventstore.ErrCorrupt, and its cause (ErrInvalidMetadata for bad metadata).
type CorruptRecordError struct {
	Stream   string
	Revision uint64
	Position eventstore.Position
	// Err says what is wrong.
	Err error
}

// Error names the stream, the event and what is wrong.
func (e *CorruptRecordError) Error() string {
	return fmt.Sprintf("read processed commands of %s: event at revision %d (position %s): %v: %v",
		quote.Trunc(e.Stream), e.Revision, e.Position, eventstore.ErrCorrupt, e.Err)
}

// Is makes errors.Is(err, eventstore.ErrCorrupt) true.
func (e *CorruptRecordError) Is(target error) bool { return target == eventstore.ErrCorrupt }

// Unwrap returns the cause.
func (e *CorruptRecordError) Unwrap() error { return e.Err }

// Processed yields the commands recorded in stream, the aggregate's stream, in the
// order they were recorded, whatever the dedupe window or snapshots of a handler
// (it reads the stream's events, not a handler's state). Events no command handler
// wrote (empty or foreign metadata) belong to no command and are passed over. It
// yields one error and stops if the stream does not exist (matching
// eventstore.ErrStreamNotFound), the store fails, or a record is corrupt (a
// *CorruptRecordError). It is meant for inspection and reconciliation, not the hot
// path: it reads the whole stream.
func Processed(ctx context.Context, store eventstore.Store, stream string) iter.Seq2[CommandRecord, error] {
	return records(store.ReadStream(ctx, stream, 0), stream)
}

// records groups a stream's events into command records.
func records(events iter.Seq2[eventstore.RecordedEvent, error], stream string) iter.Seq2[CommandRecord, error] {
	return func(yield func(CommandRecord, error) bool) {
		var cur *CommandRecord
		for ev, err := range events {
			if err != nil {
				yield(CommandRecord{}, fmt.Errorf("read processed commands of %s: %w", quote.Trunc(stream), err))
				return
			}
			next, done, err := take(cur, ev)
			if err != nil {
				yield(CommandRecord{}, err)
				return
			}
			if done != nil && !yield(*done, nil) {
				return
			}
			cur = next
		}
		if cur != nil {
			last := cur.Events[len(cur.Events)-1]
			yield(CommandRecord{}, &CorruptRecordError{Stream: last.Stream, Revision: last.Revision, Position: last.Position,
				Err: fmt.Errorf("command %s wrote %d events, the stream ends after %d", quote.Q(cur.ID), cur.Metadata.Count, len(cur.Events))})
		}
	}
}

// take adds ev to the record being read (cur, nil between commands). It returns
// the record still being read, and the record ev completed, if any.
func take(cur *CommandRecord, ev eventstore.RecordedEvent) (next, done *CommandRecord, err error) {
	corrupt := func(err error) (*CommandRecord, *CommandRecord, error) {
		return nil, nil, &CorruptRecordError{Stream: ev.Stream, Revision: ev.Revision, Position: ev.Position, Err: err}
	}
	m, isCommand, err := readMetadata(ev.Metadata)
	if err != nil {
		return corrupt(err)
	}
	if cur != nil {
		if !isCommand || m.CommandID != cur.ID || m.Fingerprint != cur.Fingerprint || m.Index != len(cur.Events) {
			return corrupt(fmt.Errorf("command %s wrote %d events, this event is not its next one", quote.Q(cur.ID), cur.Metadata.Count))
		}
		cur.Events = append(cur.Events, ev)
		cur.LastRevision = ev.Revision
	} else {
		if !isCommand {
			return nil, nil, nil // not a command's event
		}
		if m.Index != 0 {
			return corrupt(fmt.Errorf("event %d of %d of command %s without the events before it", m.Index+1, m.Count, quote.Q(m.CommandID)))
		}
		if m, err = DecodeMetadata(ev.Metadata); err != nil { // every field, not only those a load reads
			return corrupt(err)
		}
		cur = &CommandRecord{Stream: ev.Stream, Metadata: m, Events: []eventstore.RecordedEvent{ev},
			ProcessedCommand: ProcessedCommand{ID: m.CommandID, Fingerprint: m.Fingerprint, FirstRevision: ev.Revision,
				LastRevision: ev.Revision, RecordedAt: ev.RecordedAt}}
		switch ev.Type {
		case RejectedEventType:
			cur.Rejection = rejectionOf(ev.Data)
		case NoOpEventType:
			cur.NoOp = true
		}
	}
	if len(cur.Events) == cur.Metadata.Count {
		return nil, cur, nil
	}
	return cur, nil, nil
}

// FindProcessed returns the record of command id in stream. It fails with an error
// matching ErrCommandNotFound when the stream records no such command, and
// eventstore.ErrStreamNotFound when the stream does not exist. With a store that
// finds events by id (eventstore.EventFinder) a recorded command is found with one
// lookup (its event ids derive from its id); otherwise, or when the lookup finds
// nothing (events written before ids were derived), it reads the stream.
func FindProcessed(ctx context.Context, store eventstore.Store, stream, id string) (CommandRecord, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return CommandRecord{}, fmt.Errorf("find command %s: %w", quote.Q(id), err)
	}
	if f, ok := store.(eventstore.EventFinder); ok {
		first, err := f.FindEvent(ctx, stream, EventID(stream, id, 0))
		switch {
		case err == nil:
			if rec, ok, err := recordAt(ctx, store, stream, id, first); ok || err != nil {
				return rec, err
			}
		case !errors.Is(err, eventstore.ErrEventNotFound) && !errors.Is(err, errors.ErrUnsupported):
			return CommandRecord{}, fmt.Errorf("find command %s in %s: %w", quote.Q(id), quote.Trunc(stream), err)
		}
	}
	for rec, err := range Processed(ctx, store, stream) {
		if err != nil {
			return CommandRecord{}, fmt.Errorf("find command %s: %w", quote.Q(id), err)
		}
		if rec.ID == id {
			return rec, nil
		}
	}
	return CommandRecord{}, fmt.Errorf("find command %s in %s: %w", quote.Q(id), quote.Trunc(stream), ErrCommandNotFound)
}

// recordAt reads the record that starts with first, found by its id; ok is false
// when first is not the first event of command id (a foreign event with that id).
func recordAt(ctx context.Context, store eventstore.Store, stream, id string, first eventstore.RecordedEvent) (CommandRecord, bool, error) {
	m, isCommand, err := readMetadata(first.Metadata)
	if err != nil || !isCommand || m.CommandID != id || m.Index != 0 {
		return CommandRecord{}, false, nil
	}
	for rec, err := range records(store.ReadStream(ctx, stream, first.Revision, eventstore.Limit(m.Count)), stream) {
		if err != nil {
			return CommandRecord{}, false, fmt.Errorf("find command %s: %w", quote.Q(id), err)
		}
		return rec, true, nil
	}
	return CommandRecord{}, false, nil
}

// IsRecorded reports whether command id wrote events (or a marker) to stream; a
// stream that does not exist records nothing. It answers for commands of any age,
// as FindProcessed does.
func IsRecorded(ctx context.Context, store eventstore.Store, stream, id string) (bool, error) {
	_, err := FindProcessed(ctx, store, stream, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrCommandNotFound) || errors.Is(err, eventstore.ErrStreamNotFound):
		return false, nil
	}
	return false, err
}

// ClaimRecorded returns the reservation.Recorded that Handler.ReconcileReservations
// applies, for tools that hold a store but no handler: a claim counts as recorded
// when its command, or one that joined it, is recorded in the claim's owner stream
// (IsRecorded); a claim that names no owner stream is not this package's to judge,
// and counts as recorded.
func ClaimRecorded(store eventstore.Store) reservation.Recorded {
	return func(ctx context.Context, c reservation.Claim) (bool, error) {
		if c.OwnerStream == "" {
			return true, nil
		}
		for _, id := range append([]string{c.CommandID}, c.Joined...) {
			if ok, err := IsRecorded(ctx, store, c.OwnerStream, id); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	}
}
