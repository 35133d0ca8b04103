package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

var (
	_ eventstore.EventFinder   = (*Store)(nil)
	_ eventstore.SnapshotStore = (*Store)(nil)
)

// FindEvent returns the event of stream whose id is id, with one seek of the
// (stream, id) index; see eventstore.EventFinder. A damaged row is reported as
// eventstore.ErrCorrupt, as every read reports it.
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
	buf := getPage()
	defer putPage(buf)
	page, err := s.queryEvents(ctx, buf, stream, findEventQuery, stream, id[:])
	switch {
	case err != nil:
		return fail(s.readError(ctx, "find event", err))
	case len(page) == 0:
		return fail(eventstore.ErrEventNotFound)
	}
	e := page[0]
	e.Data, e.Metadata = clone(e.Data), clone(e.Metadata) // the page's buffers are reused
	return e, nil
}

// LoadSnapshot returns the stream's latest snapshot from the idem_snapshots table;
// see eventstore.SnapshotStore. A damaged row is reported as eventstore.ErrCorrupt.
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
	if s.isClosed.Load() {
		return fail(eventstore.ErrClosed)
	}
	var rev, data, taken any
	err := s.queryRow(ctx, loadSnapshotQuery, stream).Scan(&rev, &data, &taken)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fail(eventstore.ErrNoSnapshot)
	case err != nil:
		return fail(s.readError(ctx, "load snapshot", err))
	}
	r, okRev := rev.(int64)
	body, okData := data.([]byte)
	at, okAt := taken.(int64)
	if !okRev || r < 0 || !okData || !okAt {
		return fail(fmt.Errorf("%w: the snapshot row has values of the wrong types", eventstore.ErrCorrupt))
	}
	return eventstore.Snapshot{Stream: stream, Revision: uint64(r), Data: clone(body), TakenAt: time.Unix(0, at).UTC()}, nil
}

// saveSnapshotQuery keeps the later of two snapshots: an older one never replaces
// a newer one. A row whose revision is not an integer (damaged) is replaced: it
// would otherwise compare above every revision and never heal.
const saveSnapshotQuery = `INSERT INTO idem_snapshots (stream, revision, data, taken_at) VALUES (?, ?, ?, ?)
	ON CONFLICT (stream) DO UPDATE SET revision = excluded.revision, data = excluded.data, taken_at = excluded.taken_at
	WHERE excluded.revision >= idem_snapshots.revision OR typeof(idem_snapshots.revision) <> 'integer'`

// SaveSnapshot stores snap in the idem_snapshots table unless a later one is
// there; see eventstore.SnapshotStore. It is a write of its own, through the
// store's writer connection, between append batches. A snapshot is a cache: a
// save that finds another process holding the write lock fails at once (with
// eventstore.ErrUnavailable) rather than wait.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	fail := func(err error) error { return backend.SnapshotError("save", snap.Stream, err) }
	if err := eventstore.ValidateStreamName(snap.Stream); err != nil {
		return fail(err)
	}
	if snap.Revision > 1<<63-1 {
		return fail(fmt.Errorf("%w: revision out of range", eventstore.ErrInvalidEvent))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if s.isClosed.Load() {
		return fail(eventstore.ErrClosed)
	}
	data := snap.Data
	if data == nil {
		data = []byte{}
	}
	s.w.mu.Lock()
	_, err := s.w.conn.ExecContext(ctx, saveSnapshotQuery, snap.Stream, int64(snap.Revision), data, snap.TakenAt.UnixNano())
	s.w.mu.Unlock()
	if err != nil {
		if s.isClosed.Load() {
			return fail(eventstore.ErrClosed)
		}
		return fail(storageError(ctx, "save snapshot", err))
	}
	return nil
}

// clone copies b; nil stays nil.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
