package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

// env is what a test case works with: the store, the suite's configuration, and a
// stream-name prefix unique to the test, so that a store shared between tests (a
// remote server) or holding system events still gives each test its own streams.
type env struct {
	t      *testing.T
	s      eventstore.Store
	cfg    config
	prefix string
	ctx    context.Context
}

func newEnv(t *testing.T, factory func(t *testing.T) eventstore.Store, cfg config) *env {
	s := factory(t)
	require.NotNil(t, s, "factory returned a nil store")
	return &env{
		t:      t,
		s:      s,
		cfg:    cfg,
		prefix: "st" + uuid.NewString()[:8] + "-",
		ctx:    t.Context(),
	}
}

// stream returns a stream name unique to this test.
func (e *env) stream(name string) string { return e.prefix + name }

// own filters ReadAll and SubscribeAll to this test's streams.
func (e *env) own() eventstore.ReadOption { return eventstore.StreamPrefix(e.prefix) }

// event returns a new event of type typ with a fresh id and small JSON data.
func event(typ string) eventstore.EventData {
	id := uuid.New()
	return eventstore.EventData{
		ID:       id,
		Type:     typ,
		Data:     fmt.Appendf(nil, `{"id":%q}`, id),
		Metadata: []byte(`{"by":"storetest"}`),
	}
}

// events returns n new events of type typ.
func events(n int, typ string) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = event(typ)
	}
	return out
}

func ids(evs []eventstore.EventData) []uuid.UUID {
	if len(evs) == 0 {
		return nil
	}
	out := make([]uuid.UUID, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func recordedIDs(evs []eventstore.RecordedEvent) []uuid.UUID {
	if len(evs) == 0 {
		return nil
	}
	out := make([]uuid.UUID, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// mustAppend appends and fails the test on error.
func (e *env) mustAppend(stream string, expected eventstore.ExpectedRevision, evs ...eventstore.EventData) eventstore.AppendResult {
	e.t.Helper()
	res, err := e.s.Append(e.ctx, stream, expected, evs...)
	require.NoError(e.t, err, "append %d events to %s expecting %s", len(evs), stream, expected)
	want := eventstore.Written
	if e.cfg.unknownOutcomes {
		want = eventstore.OutcomeUnknown
	}
	require.Equal(e.t, want, res.Outcome, "append %d events to %s expecting %s: outcome", len(evs), stream, expected)
	return res
}

// requireReplay checks that again, the result of a retry, reports what original
// reported and that it was recognised as a replay (G2, G4); a backend that cannot
// tell (UnknownOutcomes) reports OutcomeUnknown for both.
func (e *env) requireReplay(original, again eventstore.AppendResult, msg string) {
	e.t.Helper()
	require.Equal(e.t, original.Revision, again.Revision, "%s: revision", msg)
	require.Equal(e.t, original.Position, again.Position, "%s: position", msg)
	if e.cfg.unknownOutcomes {
		require.Equal(e.t, eventstore.OutcomeUnknown, again.Outcome, "%s: outcome", msg)
		return
	}
	require.Equal(e.t, eventstore.Replayed, again.Outcome, "%s: a retry must be reported as Replayed", msg)
}

// collect ranges over seq and returns the events before the first error, and that
// error. It stops at the first error even if the iterator would go on.
func collect(seq func(func(eventstore.RecordedEvent, error) bool)) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	var err error
	for ev, e := range seq {
		if e != nil {
			err = e
			break
		}
		out = append(out, ev)
	}
	return out, err
}

// readStream reads stream and fails the test on error.
func (e *env) readStream(stream string, from uint64, opts ...eventstore.ReadOption) []eventstore.RecordedEvent {
	e.t.Helper()
	evs, err := collect(e.s.ReadStream(e.ctx, stream, from, opts...))
	require.NoError(e.t, err, "read stream %s from %d", stream, from)
	return evs
}

// streamIDs returns the ids stored in stream, or nil if the stream has no events.
func (e *env) streamIDs(stream string) []uuid.UUID {
	e.t.Helper()
	evs, err := collect(e.s.ReadStream(e.ctx, stream, 0))
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	require.NoError(e.t, err, "read stream %s", stream)
	return recordedIDs(evs)
}

// requireMissing fails unless stream has no events.
func (e *env) requireMissing(stream string) {
	e.t.Helper()
	_, err := collect(e.s.ReadStream(e.ctx, stream, 0))
	require.ErrorIs(e.t, err, eventstore.ErrStreamNotFound, "stream %s should have no events", stream)
}

// readOwn reads this test's events from the global log after the given position.
func (e *env) readOwn(after eventstore.Position, opts ...eventstore.ReadOption) []eventstore.RecordedEvent {
	e.t.Helper()
	evs, err := collect(e.s.ReadAll(e.ctx, after, append([]eventstore.ReadOption{e.own()}, opts...)...))
	require.NoError(e.t, err, "read all after %s", after)
	return evs
}

// logSize counts every event of the global log (not only this test's): the tests
// of invalid stream names use it to prove nothing was written anywhere.
func (e *env) logSize() int {
	e.t.Helper()
	evs, err := collect(e.s.ReadAll(e.ctx, eventstore.Start()))
	require.NoError(e.t, err, "read all")
	return len(evs)
}

// requireWrongRevision checks that err is a refused append of stream expecting
// expected whose actual state was actual (or unknown, the zero value, which the
// contract allows a backend that cannot tell).
func requireWrongRevision(t *testing.T, err error, stream string, expected, actual eventstore.ExpectedRevision) {
	t.Helper()
	require.Error(t, err, "append to %s expecting %s should fail", stream, expected)
	require.ErrorIs(t, err, eventstore.ErrWrongExpectedRevision)
	var wrong *eventstore.WrongExpectedRevisionError
	require.ErrorAs(t, err, &wrong)
	require.Equal(t, stream, wrong.Stream, "WrongExpectedRevisionError.Stream")
	require.Equal(t, expected, wrong.Expected, "WrongExpectedRevisionError.Expected")
	if wrong.Actual.IsValid() {
		require.Equal(t, actual, wrong.Actual, "WrongExpectedRevisionError.Actual")
	}
	require.Contains(t, err.Error(), fmt.Sprintf("append to %s expecting %s", stream, expected))
}

// run runs f as a subtest with the same store and prefix.
func (e *env) run(name string, f func(e *env)) {
	e.t.Helper()
	e.t.Run(name, func(t *testing.T) {
		child := *e
		child.t = t
		child.ctx = t.Context()
		f(&child)
	})
}
