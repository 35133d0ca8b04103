package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
)

var (
	_ eventstore.EventFinder   = (*Store)(nil)
	_ eventstore.SnapshotStore = (*Store)(nil)
)

// FindEvent passes through to the inner store's eventstore.EventFinder; no fault
// applies to it. If the inner store cannot find events, it fails with an error
// matching errors.ErrUnsupported.
func (s *Store) FindEvent(ctx context.Context, stream string, id uuid.UUID) (eventstore.RecordedEvent, error) {
	f, ok := s.inner.(eventstore.EventFinder)
	if !ok {
		return eventstore.RecordedEvent{}, fmt.Errorf("find event in %T: %w", s.inner, errors.ErrUnsupported)
	}
	return f.FindEvent(ctx, stream, id)
}

// LoadSnapshot passes through to the inner store's eventstore.SnapshotStore, or
// fails with errors.ErrUnsupported.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	ss, ok := s.inner.(eventstore.SnapshotStore)
	if !ok {
		return eventstore.Snapshot{}, fmt.Errorf("load snapshot from %T: %w", s.inner, errors.ErrUnsupported)
	}
	return ss.LoadSnapshot(ctx, stream)
}

// SaveSnapshot passes through to the inner store's eventstore.SnapshotStore, or
// fails with errors.ErrUnsupported.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	ss, ok := s.inner.(eventstore.SnapshotStore)
	if !ok {
		return fmt.Errorf("save snapshot to %T: %w", s.inner, errors.ErrUnsupported)
	}
	return ss.SaveSnapshot(ctx, snap)
}
