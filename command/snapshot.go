package command

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// ErrNoSnapshot: a SnapshotStore holds no snapshot for the stream.
var ErrNoSnapshot = errors.New("no snapshot")

// ErrInvalidSnapshot: a snapshot could not be saved or decoded (bad stream name,
// corrupt stored record).
var ErrInvalidSnapshot = errors.New("invalid snapshot")

// Snapshot is an aggregate's state at a revision, with what the handler needs to go
// on from there without the events before it: the processed command set (G7).
type Snapshot struct {
	// Stream is the aggregate's stream.
	Stream string
	// Revision is the revision of the last event folded into State.
	Revision uint64
	// StateVersion is the version of the state's encoding (WithSnapshotVersion). A
	// snapshot of another version is ignored and the state rebuilt from events.
	StateVersion int
	// State is the encoded state.
	State []byte
	// Processed is the processed command set at Revision, within the dedupe window,
	// in the order the commands were recorded.
	Processed []ProcessedCommand
	// TakenAt is when the snapshot was taken (the handler's clock).
	TakenAt time.Time
}

// ProcessedCommand is one entry of an aggregate's processed command set: a command
// id and what it produced, so that a duplicate returns the original result (G3).
type ProcessedCommand struct {
	// ID is the command id (the idempotency key).
	ID string `json:"id"`
	// Fingerprint is the fingerprint of the command's payload.
	Fingerprint string `json:"fp"`
	// FirstRevision and LastRevision bound the events the command wrote.
	FirstRevision uint64 `json:"first"`
	LastRevision  uint64 `json:"last"`
	// RecordedAt is when the command's events were recorded.
	RecordedAt time.Time `json:"at"`
	// Rejection holds the text of a recorded rejection (a marker event, no domain
	// events); empty otherwise.
	Rejection string `json:"rejection,omitempty"`
	// NoOp is true for a recorded no-op (a marker event, no domain events).
	NoOp bool `json:"noop,omitempty"`
}

// SnapshotStore keeps the latest snapshot of each stream. Implementations are safe
// for concurrent use; SaveSnapshot never replaces a snapshot with an older revision.
// Snapshots are a cache: losing them loses nothing but load time.
type SnapshotStore interface {
	// LoadSnapshot returns the stream's latest snapshot, or an error matching
	// ErrNoSnapshot.
	LoadSnapshot(ctx context.Context, stream string) (Snapshot, error)
	// SaveSnapshot stores s unless a snapshot of a later revision is already
	// stored, in which case it does nothing.
	SaveSnapshot(ctx context.Context, s Snapshot) error
}

// MemorySnapshots is an in-process SnapshotStore, for tests and examples.
type MemorySnapshots struct {
	mu    sync.RWMutex
	snaps map[string]Snapshot
}

// NewMemorySnapshots returns an empty MemorySnapshots.
func NewMemorySnapshots() *MemorySnapshots {
	return &MemorySnapshots{snaps: map[string]Snapshot{}}
}

// LoadSnapshot implements SnapshotStore. The returned snapshot shares nothing with
// the stored one.
func (m *MemorySnapshots) LoadSnapshot(ctx context.Context, stream string) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("load snapshot of %s: %w", stream, err)
	}
	m.mu.RLock()
	s, ok := m.snaps[stream]
	m.mu.RUnlock()
	if !ok {
		return Snapshot{}, fmt.Errorf("load snapshot of %s: %w", stream, ErrNoSnapshot)
	}
	return cloneSnapshot(s), nil
}

// SaveSnapshot implements SnapshotStore.
func (m *MemorySnapshots) SaveSnapshot(ctx context.Context, s Snapshot) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save snapshot of %s: %w", s.Stream, err)
	}
	if err := eventstore.ValidateStreamName(s.Stream); err != nil {
		return fmt.Errorf("save snapshot: %w: %w", ErrInvalidSnapshot, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.snaps[s.Stream]; ok && prev.Revision > s.Revision {
		return nil
	}
	m.snaps[s.Stream] = cloneSnapshot(s)
	return nil
}

func cloneSnapshot(s Snapshot) Snapshot {
	s.State = slices.Clone(s.State)
	s.Processed = slices.Clone(s.Processed)
	return s
}
