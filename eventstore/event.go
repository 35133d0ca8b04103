package eventstore

import (
	"time"

	"github.com/google/uuid"
)

// EventData is an event to append. Its ID is the idempotency key of the event within
// its stream (DESIGN G2): a retry must send the same ID.
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
	// Position is the global position of the append's last event.
	Position Position
}
