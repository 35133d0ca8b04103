package eventstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// ErrEventNotFound: FindEvent found no event with that id in the stream.
var ErrEventNotFound = errors.New("event not found")

// EventFinder is implemented by stores that find an event of a stream by its id
// with one indexed lookup, whatever the stream's length (SQLite, PostgreSQL,
// memory; not EventStoreDB). The command handler uses it to recognise a
// redelivered command without reading the aggregate's stream: command event ids
// are derived from the command id (G3).
type EventFinder interface {
	// FindEvent returns the event of stream whose id is id, or an error matching
	// ErrEventNotFound.
	FindEvent(ctx context.Context, stream string, id uuid.UUID) (RecordedEvent, error)
}

// ErrNoSnapshot: a SnapshotStore holds no snapshot for the stream.
var ErrNoSnapshot = errors.New("no snapshot")

// Snapshot is a stream's folded state at a revision, encoded by whoever folds it
// (the command handler): a cache that saves reading the events up to Revision.
// Losing one loses nothing but time.
type Snapshot struct {
	// Stream is the stream the snapshot folds.
	Stream string
	// Revision is the revision of the last event folded in.
	Revision uint64
	// Data is the encoded state, opaque to the store.
	Data []byte
	// TakenAt is when the snapshot was taken.
	TakenAt time.Time
}

// SnapshotStore keeps the latest snapshot of each stream. Event stores that can
// keep snapshots beside their events implement it (SQLite, PostgreSQL, memory):
// the command handler then snapshots aggregates by default. Implementations are
// safe for concurrent use.
type SnapshotStore interface {
	// LoadSnapshot returns the stream's latest snapshot, or an error matching
	// ErrNoSnapshot.
	LoadSnapshot(ctx context.Context, stream string) (Snapshot, error)
	// SaveSnapshot stores s unless a snapshot of a later revision is already
	// stored, in which case it does nothing.
	SaveSnapshot(ctx context.Context, s Snapshot) error
}
