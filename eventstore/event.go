package eventstore

import (
	"time"

	"github.com/google/uuid"
)

// EventData is an event to append. Its ID is the idempotency key of the event within
// its stream (G2): a retry must send the same ID.
type EventData struct {
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata []byte
}

// RecordedEvent is an event as the store holds it.
type RecordedEvent struct {
	ID uuid.UUID
	// Stream is the name of the stream the event belongs to.
	Stream string
	// Revision is the event's 0-based index within its stream.
	Revision uint64
	// Position is the event's place in the global log.
	Position   Position
	Type       string
	Data       []byte
	Metadata   []byte
	RecordedAt time.Time
}

// AppendResult is what a successful append reports.
type AppendResult struct {
	// Revision is the revision of the last event of the append: the stream's new
	// revision, or, for an idempotent retry, the revision the original append reached.
	Revision uint64
	// Position is the global position of the append's last event (for a retry, of
	// the original's last event where the backend can tell).
	Position Position
	// Outcome says whether this call wrote the events or found them already stored
	// by an earlier append with the same ids (G2). Of two identical appends racing,
	// exactly one is told Written.
	Outcome AppendOutcome
}

// AppendOutcome says what a successful append did.
type AppendOutcome uint8

const (
	// OutcomeUnknown: the backend cannot tell a write from a recognised retry
	// (EventStoreDB answers both alike). A caller that must know reads the events
	// back (the command handler does, see docs/backends.md).
	OutcomeUnknown AppendOutcome = iota
	// Written: this call wrote the events.
	Written
	// Replayed: the events were already stored, by an earlier append with the same
	// ids after the same expected revision; this call wrote nothing and reports
	// that append's revision.
	Replayed
)

// String returns "unknown", "written" or "replayed".
func (o AppendOutcome) String() string {
	switch o {
	case Written:
		return "written"
	case Replayed:
		return "replayed"
	default:
		return "unknown"
	}
}
