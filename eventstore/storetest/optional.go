package storetest

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

// The optional capabilities: a store that implements eventstore.EventFinder or
// eventstore.SnapshotStore must keep their contracts; a store that does not skips
// these groups, saying so.

var finderCases = []testCase{
	{"FindsByStreamAndID", testFindEvent},
	{"FindRefusesBadInput", testFindBadInput},
}

var snapshotCases = []testCase{
	{"SaveLoad", testSnapshotSaveLoad},
	{"NeverMovesBack", testSnapshotNeverMovesBack},
	{"SnapshotRefusesBadInput", testSnapshotBadInput},
}

// finder returns the store as an EventFinder, or skips: a wrapper that implements
// the method but whose inner store does not answers errors.ErrUnsupported.
func (e *env) finder() eventstore.EventFinder {
	e.t.Helper()
	f, ok := e.s.(eventstore.EventFinder)
	if ok {
		_, err := f.FindEvent(e.ctx, e.stream("probe"), uuid.New())
		ok = !errors.Is(err, errors.ErrUnsupported)
	}
	if !ok {
		e.t.Skipf("%T does not implement eventstore.EventFinder", e.s)
	}
	return f
}

// snapshots returns the store as a SnapshotStore, or skips (see finder).
func (e *env) snapshots() eventstore.SnapshotStore {
	e.t.Helper()
	s, ok := e.s.(eventstore.SnapshotStore)
	if ok {
		_, err := s.LoadSnapshot(e.ctx, e.stream("probe"))
		ok = !errors.Is(err, errors.ErrUnsupported)
	}
	if !ok {
		e.t.Skipf("%T does not implement eventstore.SnapshotStore", e.s)
	}
	return s
}

// testFindEvent: FindEvent returns the event with its revision and position; an
// id of another stream, or no id, is not found.
func testFindEvent(e *env) {
	f := e.finder()
	a, b := e.stream("find-a"), e.stream("find-b")
	evs := events(3, "Found")
	e.mustAppend(a, eventstore.NoStream(), evs...)
	e.mustAppend(b, eventstore.NoStream(), events(1, "Other")...)
	stored := e.readStream(a, 0)
	for i, ev := range evs {
		got, err := f.FindEvent(e.ctx, a, ev.ID)
		require.NoError(e.t, err)
		require.Equal(e.t, stored[i].ID, got.ID)
		require.Equal(e.t, stored[i].Revision, got.Revision)
		require.Equal(e.t, stored[i].Position, got.Position)
		require.Equal(e.t, stored[i].Type, got.Type)
		require.Equal(e.t, stored[i].Data, got.Data)
		require.Equal(e.t, a, got.Stream)
	}
	_, err := f.FindEvent(e.ctx, b, evs[0].ID)
	require.ErrorIs(e.t, err, eventstore.ErrEventNotFound, "ids are looked up within a stream")
	_, err = f.FindEvent(e.ctx, e.stream("find-missing"), uuid.New())
	require.ErrorIs(e.t, err, eventstore.ErrEventNotFound)
}

func testFindBadInput(e *env) {
	f := e.finder()
	_, err := f.FindEvent(e.ctx, "", uuid.New())
	require.ErrorIs(e.t, err, eventstore.ErrInvalidStreamName)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	_, err = f.FindEvent(ctx, e.stream("find-cancelled"), uuid.New())
	require.ErrorIs(e.t, err, context.Canceled)
}

func testSnapshotSaveLoad(e *env) {
	s := e.snapshots()
	stream := e.stream("snap")
	_, err := s.LoadSnapshot(e.ctx, stream)
	require.ErrorIs(e.t, err, eventstore.ErrNoSnapshot)
	at := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)
	require.NoError(e.t, s.SaveSnapshot(e.ctx, eventstore.Snapshot{Stream: stream, Revision: 9, Data: []byte("state-9"), TakenAt: at}))
	got, err := s.LoadSnapshot(e.ctx, stream)
	require.NoError(e.t, err)
	require.Equal(e.t, uint64(9), got.Revision)
	require.Equal(e.t, []byte("state-9"), got.Data)
	require.Equal(e.t, stream, got.Stream)
	require.WithinDuration(e.t, at, got.TakenAt, time.Millisecond)
	got.Data[0] = 'X'
	again, err := s.LoadSnapshot(e.ctx, stream)
	require.NoError(e.t, err)
	require.Equal(e.t, []byte("state-9"), again.Data, "a loaded snapshot is the caller's own")
	_, err = s.LoadSnapshot(e.ctx, e.stream("snap-other"))
	require.ErrorIs(e.t, err, eventstore.ErrNoSnapshot)
}

func testSnapshotNeverMovesBack(e *env) {
	s := e.snapshots()
	stream := e.stream("snap-order")
	require.NoError(e.t, s.SaveSnapshot(e.ctx, eventstore.Snapshot{Stream: stream, Revision: 20, Data: []byte("20")}))
	require.NoError(e.t, s.SaveSnapshot(e.ctx, eventstore.Snapshot{Stream: stream, Revision: 10, Data: []byte("10")}))
	got, err := s.LoadSnapshot(e.ctx, stream)
	require.NoError(e.t, err)
	require.Equal(e.t, uint64(20), got.Revision, "an older snapshot never replaces a newer one")
	require.NoError(e.t, s.SaveSnapshot(e.ctx, eventstore.Snapshot{Stream: stream, Revision: 30, Data: []byte("30")}))
	got, err = s.LoadSnapshot(e.ctx, stream)
	require.NoError(e.t, err)
	require.Equal(e.t, []byte("30"), got.Data)
}

func testSnapshotBadInput(e *env) {
	s := e.snapshots()
	require.ErrorIs(e.t, s.SaveSnapshot(e.ctx, eventstore.Snapshot{Stream: ""}), eventstore.ErrInvalidStreamName)
	_, err := s.LoadSnapshot(e.ctx, "")
	require.ErrorIs(e.t, err, eventstore.ErrInvalidStreamName)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	_, err = s.LoadSnapshot(ctx, e.stream("snap-cancelled"))
	require.ErrorIs(e.t, err, context.Canceled)
	require.ErrorIs(e.t, s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: e.stream("snap-cancelled")}), context.Canceled)
}
