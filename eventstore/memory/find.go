package memory

import (
	"context"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

var (
	_ eventstore.EventFinder   = (*Store)(nil)
	_ eventstore.SnapshotStore = (*Store)(nil)
)

// eventKey identifies an event by its stream and id, as FindEvent looks it up.
type eventKey struct {
	stream string
	id     uuid.UUID
}

// FindEvent returns the event of stream whose id is id; see eventstore.EventFinder.
func (s *Store) FindEvent(ctx context.Context, stream string, id uuid.UUID) (eventstore.RecordedEvent, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.RecordedEvent{}, backend.FindEventError(stream, id, err)
	}
	if err := ctx.Err(); err != nil {
		return eventstore.RecordedEvent{}, backend.FindEventError(stream, id, err)
	}
	s.mu.RLock()
	idx, ok := s.byID[eventKey{stream, id}]
	closed := s.closed
	var e eventstore.RecordedEvent
	if ok {
		e = s.log[idx]
	}
	s.mu.RUnlock()
	switch {
	case closed:
		return eventstore.RecordedEvent{}, backend.FindEventError(stream, id, eventstore.ErrClosed)
	case !ok:
		return eventstore.RecordedEvent{}, backend.FindEventError(stream, id, eventstore.ErrEventNotFound)
	}
	return clone(e), nil
}

// LoadSnapshot returns the stream's latest snapshot; see eventstore.SnapshotStore.
// The returned snapshot shares nothing with the stored one.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.Snapshot{}, backend.SnapshotError("load", stream, err)
	}
	if err := ctx.Err(); err != nil {
		return eventstore.Snapshot{}, backend.SnapshotError("load", stream, err)
	}
	s.mu.RLock()
	snap, ok := s.snaps[stream]
	closed := s.closed
	s.mu.RUnlock()
	switch {
	case closed:
		return eventstore.Snapshot{}, backend.SnapshotError("load", stream, eventstore.ErrClosed)
	case !ok:
		return eventstore.Snapshot{}, backend.SnapshotError("load", stream, eventstore.ErrNoSnapshot)
	}
	snap.Data = cloneBytes(snap.Data)
	return snap, nil
}

// SaveSnapshot stores snap unless a later one is stored; see
// eventstore.SnapshotStore.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := eventstore.ValidateStreamName(snap.Stream); err != nil {
		return backend.SnapshotError("save", snap.Stream, err)
	}
	if err := ctx.Err(); err != nil {
		return backend.SnapshotError("save", snap.Stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return backend.SnapshotError("save", snap.Stream, eventstore.ErrClosed)
	}
	if prev, ok := s.snaps[snap.Stream]; ok && prev.Revision > snap.Revision {
		return nil
	}
	snap.Data = cloneBytes(snap.Data)
	snap.TakenAt = snap.TakenAt.UTC()
	s.snaps[snap.Stream] = snap
	return nil
}
