package storetest

import (
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var concurrencyCases = []testCase{
	{"ExactRace", testExactRace},
	{"NoStreamRace", testNoStreamRace},
	{"IdenticalAppendsRace", testIdenticalAppendsRace},
}

// raceResult is what one goroutine of a race got.
type raceResult struct {
	events []eventstore.EventData
	res    eventstore.AppendResult
	err    error
}

// race makes cfg.goroutines goroutines append to stream at once, each with its own
// events from mk, and returns what each got.
func (e *env) race(stream string, expected eventstore.ExpectedRevision, mk func() []eventstore.EventData) []raceResult {
	results := make([]raceResult, e.cfg.goroutines)
	for i := range results {
		results[i].events = mk()
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			<-start
			r := &results[i]
			r.res, r.err = e.s.Append(e.ctx, stream, expected, r.events...)
		})
	}
	close(start)
	wg.Wait()
	return results
}

// winner checks that exactly one goroutine of a race succeeded and that every other
// one got the typed conflict, and returns the winner.
func (e *env) winner(results []raceResult, stream string, expected, actual eventstore.ExpectedRevision) raceResult {
	e.t.Helper()
	var won []raceResult
	for _, r := range results {
		if r.err == nil {
			won = append(won, r)
			continue
		}
		requireWrongRevision(e.t, r.err, stream, expected, actual)
	}
	require.Len(e.t, won, 1, "exactly one of %d appends expecting %s must win", len(results), expected)
	return won[0]
}

// testExactRace: goroutines append with Exact(n) to one stream in rounds; in each
// round exactly one wins and the others get the typed conflict (G1, G4).
func testExactRace(e *env) {
	stream := e.stream("race-exact")
	var want []uuid.UUID
	first := event("Created")
	e.mustAppend(stream, eventstore.NoStream(), first)
	want = append(want, first.ID)

	for round := range e.cfg.rounds {
		rev := uint64(round)
		results := e.race(stream, eventstore.Exact(rev), func() []eventstore.EventData {
			return events(1, fmt.Sprintf("Round%d", round))
		})
		w := e.winner(results, stream, eventstore.Exact(rev), eventstore.Exact(rev+1))
		require.Equal(e.t, rev+1, w.res.Revision, "round %d: the winner's revision", round)
		want = append(want, w.events[0].ID)
	}
	require.Equal(e.t, want, e.streamIDs(stream), "the stream holds exactly the winners' events, in order")
	require.Len(e.t, e.readOwn(eventstore.Start()), e.cfg.rounds+1, "losers wrote nothing anywhere")
}

// testNoStreamRace: goroutines create the same stream with NoStream, each with its
// own ids; exactly one wins, and the stream holds exactly its events (G5: a key
// claimed with NoStream is claimed once).
func testNoStreamRace(e *env) {
	stream := e.stream("race-nostream")
	results := e.race(stream, eventstore.NoStream(), func() []eventstore.EventData { return events(2, "Claimed") })
	w := e.winner(results, stream, eventstore.NoStream(), eventstore.Exact(1))
	require.Equal(e.t, uint64(1), w.res.Revision)
	require.Equal(e.t, []uuid.UUID{w.events[0].ID, w.events[1].ID}, e.streamIDs(stream))
	require.Len(e.t, e.readOwn(eventstore.Start()), 2, "losers wrote nothing anywhere")
}

// testIdenticalAppendsRace: goroutines send the same append (same ids, same
// expected revision) at once, as two replicas handling one command do. Every one
// succeeds with the same result, the events are stored once, and exactly one is
// told Written: the others learn that theirs was a replay (G2, G4).
func testIdenticalAppendsRace(e *env) {
	for _, tc := range []struct {
		name     string
		expected eventstore.ExpectedRevision
	}{{"NoStream", eventstore.NoStream()}, {"Exact", eventstore.Exact(0)}} {
		stream := e.stream("race-identical-" + tc.name)
		if tc.expected.Kind() == eventstore.KindExact {
			e.mustAppend(stream, eventstore.NoStream(), event("Created"))
		}
		same := events(2, "Decided")
		results := e.race(stream, tc.expected, func() []eventstore.EventData { return same })
		written := 0
		for i, r := range results {
			require.NoError(e.t, r.err, "%s: goroutine %d: an identical append is a retry, never a conflict", tc.name, i)
			require.Equal(e.t, results[0].res.Revision, r.res.Revision, "%s: goroutine %d: revision", tc.name, i)
			if r.res.Outcome == eventstore.Written {
				written++
			}
			if !e.cfg.unknownOutcomes {
				require.NotEqual(e.t, eventstore.OutcomeUnknown, r.res.Outcome, "%s: goroutine %d: outcome", tc.name, i)
			}
		}
		if !e.cfg.unknownOutcomes {
			require.Equal(e.t, 1, written, "%s: exactly one of %d identical appends is told Written", tc.name, len(results))
		}
		got := e.streamIDs(stream)
		require.Equal(e.t, ids(same), got[len(got)-2:], "%s: the events are stored once", tc.name)
	}
}
