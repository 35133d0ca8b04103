package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"github.com/idemkit/idem/internal/pgsnapshot"
)

var (
	_ eventstore.EventFinder   = (*Store)(nil)
	_ eventstore.SnapshotStore = (*Store)(nil)
)

// FindEvent returns the event of stream whose id is id, with one seek of the
// (stream, id) index, however long the stream; see eventstore.EventFinder. A
// damaged row is reported as eventstore.ErrCorrupt naming its position, as every
// read reports it.
func (s *Store) FindEvent(ctx context.Context, stream string, id uuid.UUID) (eventstore.RecordedEvent, error) {
	fail := func(err error) (eventstore.RecordedEvent, error) {
		return eventstore.RecordedEvent{}, backend.FindEventError(stream, id, err)
	}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if s.isClosed.Load() {
		return fail(eventstore.ErrClosed)
	}
	page, err := s.queryEvents(ctx, "find event", stream, s.sql.findEvent, stream, id)
	switch {
	case err != nil:
		return fail(err)
	case len(page) == 0:
		return fail(eventstore.ErrEventNotFound)
	}
	return page[0], nil
}

// LoadSnapshot returns the stream's latest snapshot from the schema's
// idem_snapshots table; see eventstore.SnapshotStore. A damaged row (a NULL or a
// negative revision, an infinite time: what a loosened table lets in) is
// reported as eventstore.ErrCorrupt naming the table and the stream; the command
// handler then loads the aggregate from its events.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	fail := func(err error) (eventstore.Snapshot, error) {
		return eventstore.Snapshot{}, backend.SnapshotError("load", stream, err)
	}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	var snap eventstore.Snapshot
	var found bool
	err := s.withConn(ctx, "load snapshot", func(c *pgxpool.Conn) (err error) {
		snap, found, err = s.snaps.Load(ctx, c, stream)
		return err
	})
	switch {
	case err != nil:
		return fail(err)
	case !found:
		return fail(eventstore.ErrNoSnapshot)
	}
	return snap, nil
}

// SaveSnapshot stores snap in the schema's idem_snapshots table unless a
// snapshot of a later revision is there; see eventstore.SnapshotStore. It is a
// statement of its own on a connection of the pool, outside the append batches:
// replicas saving at once keep the latest revision.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	fail := func(err error) error { return backend.SnapshotError("save", snap.Stream, err) }
	if err := pgsnapshot.Validate(snap); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	err := s.withConn(ctx, "save snapshot", func(c *pgxpool.Conn) error {
		return s.snaps.Save(ctx, c, snap)
	})
	if err != nil {
		return fail(err)
	}
	return nil
}
