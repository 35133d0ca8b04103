package storetest

import (
	"fmt"
	"slices"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var idempotencyCases = []testCase{
	{"RetryExact", testRetryExact},
	{"RetryNoStream", testRetryNoStream},
	{"RetryAfterLaterEvents", testRetryAfterLaterEvents},
	{"RetryOfPrefix", testRetryOfPrefix},
	{"PartialRetryRefused", testPartialRetryRefused},
	{"RetryAnyAndStreamExistsAtTail", testRetryAtTail},
	{"IDsArePerStream", testIDsArePerStream},
}

// testRetryExact: a lost-ack retry of an Exact append returns the original result
// and writes nothing (G2).
func testRetryExact(e *env) {
	stream := e.stream("retry-exact")
	e.mustAppend(stream, eventstore.NoStream(), events(2, "A")...)
	evs := events(3, "B")
	original := e.mustAppend(stream, eventstore.Exact(1), evs...)
	want := e.streamIDs(stream)

	for range 2 {
		again, err := e.s.Append(e.ctx, stream, eventstore.Exact(1), evs...)
		require.NoError(e.t, err, "a retry with the same ids after the same revision must succeed")
		e.requireReplay(original, again, "a retry returns the original AppendResult")
	}
	require.Equal(e.t, want, e.streamIDs(stream), "a retry writes nothing")
	require.Len(e.t, e.readOwn(eventstore.Start()), 5, "a retry writes nothing anywhere")
}

// testRetryNoStream: a lost-ack retry of a NoStream append returns the original
// result and writes nothing (G2, G5: key claims are NoStream appends).
func testRetryNoStream(e *env) {
	stream := e.stream("retry-nostream")
	evs := events(2, "Created")
	original := e.mustAppend(stream, eventstore.NoStream(), evs...)

	again, err := e.s.Append(e.ctx, stream, eventstore.NoStream(), evs...)
	require.NoError(e.t, err)
	e.requireReplay(original, again, "a NoStream retry")
	require.Equal(e.t, ids(evs), e.streamIDs(stream))
}

// testRetryAfterLaterEvents: with Exact and NoStream the retry is recognised even
// after other appends followed, and still returns the original result.
func testRetryAfterLaterEvents(e *env) {
	stream := e.stream("retry-later")
	created := events(1, "Created")
	r0 := e.mustAppend(stream, eventstore.NoStream(), created...)
	middle := events(2, "Changed")
	r1 := e.mustAppend(stream, eventstore.Exact(0), middle...)
	e.mustAppend(stream, eventstore.Exact(2), events(3, "Later")...)
	want := e.streamIDs(stream)
	require.Len(e.t, want, 6)

	again, err := e.s.Append(e.ctx, stream, eventstore.Exact(0), middle...)
	require.NoError(e.t, err, "an Exact retry is recognised after later events")
	e.requireReplay(r1, again, "an Exact retry after later events")

	again, err = e.s.Append(e.ctx, stream, eventstore.NoStream(), created...)
	require.NoError(e.t, err, "a NoStream retry is recognised after later events")
	e.requireReplay(r0, again, "a NoStream retry after later events")

	require.Equal(e.t, want, e.streamIDs(stream), "retries write nothing")
}

// testRetryOfPrefix: the contract's rule is that every id of the append is stored as
// the events directly following the expected revision, in order; the first events
// of an earlier append, sent again after the same revision, satisfy it (as on
// EventStoreDB) and return the result as of the last of them.
func testRetryOfPrefix(e *env) {
	stream := e.stream("retry-prefix")
	e.mustAppend(stream, eventstore.NoStream(), events(2, "A")...)
	evs := events(3, "B")
	e.mustAppend(stream, eventstore.Exact(1), evs...)
	got := e.readStream(stream, 0)

	res, err := e.s.Append(e.ctx, stream, eventstore.Exact(1), evs[:2]...)
	require.NoError(e.t, err)
	e.requireReplay(eventstore.AppendResult{Revision: 3, Position: got[3].Position}, res, "a retry of a prefix")
	require.Len(e.t, e.readStream(stream, 0), 5, "writes nothing")
}

// testPartialRetryRefused: ids that only partly match what follows the expected
// revision fail with ErrWrongExpectedRevision and write nothing: never a half-write.
func testPartialRetryRefused(e *env) {
	stream := e.stream("retry-partial")
	e.mustAppend(stream, eventstore.NoStream(), events(2, "A")...)
	evs := events(3, "B") // revisions 2, 3, 4
	e.mustAppend(stream, eventstore.Exact(1), evs...)
	want := e.streamIDs(stream)
	a, b, c := evs[0], evs[1], evs[2]
	x, y := event("B"), event("B")

	cases := []struct {
		name     string
		expected eventstore.ExpectedRevision
		events   []eventstore.EventData
	}{
		{"SubsetNotAtRevision", eventstore.Exact(1), []eventstore.EventData{b, c}},
		{"SubsetWithGap", eventstore.Exact(1), []eventstore.EventData{a, c}},
		{"Superset", eventstore.Exact(1), []eventstore.EventData{a, b, c, x}},
		{"Reordered", eventstore.Exact(1), []eventstore.EventData{b, a, c}},
		{"FirstMatchesRestDiffer", eventstore.Exact(1), []eventstore.EventData{a, x, y}},
		{"LastMatchesOnly", eventstore.Exact(1), []eventstore.EventData{x, y, c}},
		{"SameIDsOtherRevision", eventstore.Exact(0), []eventstore.EventData{a, b, c}},
		{"SameIDsAsNoStream", eventstore.NoStream(), []eventstore.EventData{a, b, c}},
		{"SameIDsTooHigh", eventstore.Exact(2), []eventstore.EventData{a, b, c}},
	}
	for _, c := range cases {
		e.run(c.name, func(e *env) {
			_, err := e.s.Append(e.ctx, stream, c.expected, slices.Clone(c.events)...)
			requireWrongRevision(e.t, err, stream, c.expected, eventstore.Exact(4))
			require.Equal(e.t, want, e.streamIDs(stream), "a refused retry writes nothing")
		})
	}
}

// testRetryAtTail: with Any and StreamExists a retry is recognised when its ids are
// the stream's last events (best effort, as on EventStoreDB).
func testRetryAtTail(e *env) {
	for _, expected := range []eventstore.ExpectedRevision{eventstore.Any(), eventstore.StreamExists()} {
		e.run(expected.String(), func(e *env) {
			stream := e.stream("retry-tail-" + fmt.Sprint(expected.Kind()))
			e.mustAppend(stream, eventstore.NoStream(), events(2, "A")...)
			evs := events(2, "B")
			original := e.mustAppend(stream, expected, evs...)
			want := e.streamIDs(stream)

			again, err := e.s.Append(e.ctx, stream, expected, evs...)
			require.NoError(e.t, err)
			e.requireReplay(original, again, "a tail retry returns the original result")
			require.Equal(e.t, want, e.streamIDs(stream), "a tail retry writes nothing")
		})
	}
}

// testIDsArePerStream: ids are checked within a stream, so the same event id may be
// appended to two streams (G2).
func testIDsArePerStream(e *env) {
	ev := event("Shared")
	one, two := e.stream("ids-one"), e.stream("ids-two")
	r1 := e.mustAppend(one, eventstore.NoStream(), ev)
	r2 := e.mustAppend(two, eventstore.NoStream(), ev)
	require.NotEqual(e.t, r1.Position, r2.Position, "two events, two positions")
	require.Equal(e.t, ids([]eventstore.EventData{ev}), e.streamIDs(one))
	require.Equal(e.t, ids([]eventstore.EventData{ev}), e.streamIDs(two))
	require.Len(e.t, e.readOwn(eventstore.Start()), 2)
}
