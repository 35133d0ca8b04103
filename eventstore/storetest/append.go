package storetest

import (
	"fmt"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var appendCases = []testCase{
	{"ExpectedRevision", testExpectedRevision},
	{"ResultAndPositions", testAppendResult},
	{"ConflictWritesNothing", testConflictWritesNothing},
}

// testExpectedRevision checks every ExpectedRevision case against a missing stream
// and a stream holding revisions 0..2 (G1).
func testExpectedRevision(e *env) {
	type tc struct {
		expected eventstore.ExpectedRevision
		ok       bool
	}
	states := []struct {
		name     string
		existing int
		actual   eventstore.ExpectedRevision
		cases    []tc
	}{
		{"Missing", 0, eventstore.NoStream(), []tc{
			{eventstore.Any(), true},
			{eventstore.NoStream(), true},
			{eventstore.StreamExists(), false},
			{eventstore.Exact(0), false},
			{eventstore.Exact(5), false},
		}},
		{"Populated", 3, eventstore.Exact(2), []tc{
			{eventstore.Any(), true},
			{eventstore.NoStream(), false},
			{eventstore.StreamExists(), true},
			{eventstore.Exact(2), true},
			{eventstore.Exact(0), false},
			{eventstore.Exact(1), false},
			{eventstore.Exact(3), false},
			{eventstore.Exact(100), false},
		}},
	}
	n := 0
	for _, st := range states {
		for _, c := range st.cases {
			n++
			stream := e.stream(fmt.Sprintf("rev%d", n))
			e.run(fmt.Sprintf("%s/%s", st.name, c.expected), func(e *env) {
				t := e.t
				var before []eventstore.EventData
				if st.existing > 0 {
					before = events(st.existing, "Existing")
					e.mustAppend(stream, eventstore.NoStream(), before...)
				}
				evs := events(2, "Appended")
				res, err := e.s.Append(e.ctx, stream, c.expected, evs...)
				if !c.ok {
					requireWrongRevision(t, err, stream, c.expected, st.actual)
					require.Equal(t, ids(before), e.streamIDs(stream), "a refused append must write nothing")
					return
				}
				require.NoError(t, err)
				want := uint64(st.existing + len(evs) - 1)
				require.Equal(t, want, res.Revision, "AppendResult.Revision is the last event's revision")
				got := e.readStream(stream, 0)
				require.Equal(t, append(ids(before), ids(evs)...), recordedIDs(got))
				require.Equal(t, res.Position, got[len(got)-1].Position, "AppendResult.Position is the last event's position")
			})
		}
	}
}

// testAppendResult checks what a successful append reports: the last event's
// revision and position, revisions contiguous from 0, positions growing.
func testAppendResult(e *env) {
	stream := e.stream("result")
	first := e.mustAppend(stream, eventstore.NoStream(), events(3, "A")...)
	require.Equal(e.t, uint64(2), first.Revision)
	second := e.mustAppend(stream, eventstore.Exact(2), events(1, "B")...)
	require.Equal(e.t, uint64(3), second.Revision)
	third := e.mustAppend(stream, eventstore.StreamExists(), events(2, "C")...)
	require.Equal(e.t, uint64(5), third.Revision)
	fourth := e.mustAppend(stream, eventstore.Any(), events(1, "D")...)
	require.Equal(e.t, uint64(6), fourth.Revision)

	got := e.readStream(stream, 0)
	require.Len(e.t, got, 7)
	for i, ev := range got {
		require.Equal(e.t, uint64(i), ev.Revision, "revisions are contiguous from 0")
		require.Equal(e.t, stream, ev.Stream)
		if i > 0 {
			require.True(e.t, got[i-1].Position.Less(ev.Position), "positions grow: %s then %s", got[i-1].Position, ev.Position)
		}
	}
	require.Equal(e.t, first.Position, got[2].Position)
	require.Equal(e.t, second.Position, got[3].Position)
	require.Equal(e.t, third.Position, got[5].Position)
	require.Equal(e.t, fourth.Position, got[6].Position)
}

// testConflictWritesNothing checks that a refused multi-event append writes none of
// its events, on a missing and on an existing stream (G1: appends are atomic).
func testConflictWritesNothing(e *env) {
	missing := e.stream("conflict-missing")
	_, err := e.s.Append(e.ctx, missing, eventstore.Exact(0), events(4, "A")...)
	requireWrongRevision(e.t, err, missing, eventstore.Exact(0), eventstore.NoStream())
	e.requireMissing(missing)

	existing := e.stream("conflict-existing")
	before := events(2, "A")
	e.mustAppend(existing, eventstore.NoStream(), before...)
	_, err = e.s.Append(e.ctx, existing, eventstore.NoStream(), events(4, "B")...)
	requireWrongRevision(e.t, err, existing, eventstore.NoStream(), eventstore.Exact(1))
	require.Equal(e.t, ids(before), e.streamIDs(existing))
	require.Len(e.t, e.readOwn(eventstore.Start()), 2, "nothing written anywhere")
}
