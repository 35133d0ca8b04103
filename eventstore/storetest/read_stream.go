package storetest

import (
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var readStreamCases = []testCase{
	{"Forwards", testReadStreamForwards},
	{"Backwards", testReadStreamBackwards},
	{"NotFound", testReadStreamNotFound},
	{"FiltersRefused", testReadStreamFilters},
	{"InvalidName", testReadStreamInvalidName},
	{"StopEarly", testReadStreamStopEarly},
}

// revisions returns the revisions of evs, after checking they belong to stream.
func (e *env) revisions(stream string, evs []eventstore.RecordedEvent) []uint64 {
	e.t.Helper()
	out := []uint64{}
	for _, ev := range evs {
		require.Equal(e.t, stream, ev.Stream)
		out = append(out, ev.Revision)
	}
	return out
}

// tenEvents writes revisions 0..9 to stream, in three appends, with another
// stream's events between them, and returns the ids by revision.
func (e *env) tenEvents(stream string) []eventstore.EventData {
	e.t.Helper()
	evs := events(10, "Ten")
	other := e.stream("other")
	e.mustAppend(stream, eventstore.NoStream(), evs[:4]...)
	e.mustAppend(other, eventstore.Any(), event("Other"))
	e.mustAppend(stream, eventstore.Exact(3), evs[4:7]...)
	e.mustAppend(other, eventstore.Any(), event("Other"))
	e.mustAppend(stream, eventstore.Exact(6), evs[7:]...)
	return evs
}

func testReadStreamForwards(e *env) {
	stream := e.stream("fwd")
	evs := e.tenEvents(stream)

	all := e.readStream(stream, 0)
	require.Equal(e.t, ids(evs), recordedIDs(all), "forwards from 0: every event in revision order")
	require.Equal(e.t, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, e.revisions(stream, all))
	require.Equal(e.t, []uint64{4, 5, 6, 7, 8, 9}, e.revisions(stream, e.readStream(stream, 4)), "from is inclusive")
	require.Equal(e.t, []uint64{9}, e.revisions(stream, e.readStream(stream, 9)))
	require.Empty(e.t, e.readStream(stream, 10), "from past the end yields nothing, without error")
	require.Equal(e.t, []uint64{2, 3, 4}, e.revisions(stream, e.readStream(stream, 2, eventstore.Limit(3))))
	require.Equal(e.t, []uint64{8, 9}, e.revisions(stream, e.readStream(stream, 8, eventstore.Limit(5))))
	require.Len(e.t, e.readStream(stream, 0, eventstore.Limit(0)), 10, "Limit(0) means no limit")
}

func testReadStreamBackwards(e *env) {
	stream := e.stream("bwd")
	evs := e.tenEvents(stream)

	all := e.readStream(stream, eventstore.StreamEnd, eventstore.Backwards())
	require.Equal(e.t, []uint64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, e.revisions(stream, all))
	require.Equal(e.t, evs[9].ID, all[0].ID)
	require.Equal(e.t, evs[0].ID, all[9].ID)
	require.Equal(e.t, []uint64{5, 4, 3, 2, 1, 0}, e.revisions(stream, e.readStream(stream, 5, eventstore.Backwards())), "from is inclusive")
	require.Equal(e.t, []uint64{0}, e.revisions(stream, e.readStream(stream, 0, eventstore.Backwards())))
	require.Equal(e.t, []uint64{9, 8, 7}, e.revisions(stream, e.readStream(stream, eventstore.StreamEnd, eventstore.Backwards(), eventstore.Limit(3))))
	require.Equal(e.t, []uint64{5, 4}, e.revisions(stream, e.readStream(stream, 5, eventstore.Limit(2), eventstore.Backwards())))
	require.Equal(e.t, []uint64{1, 0}, e.revisions(stream, e.readStream(stream, 1, eventstore.Backwards(), eventstore.Limit(5))))
}

func testReadStreamNotFound(e *env) {
	stream := e.stream("missing")
	e.mustAppend(e.stream("present"), eventstore.NoStream(), event("A"))
	for _, c := range []struct {
		name string
		from uint64
		opts []eventstore.ReadOption
	}{
		{"Forwards", 0, nil},
		{"Backwards", eventstore.StreamEnd, []eventstore.ReadOption{eventstore.Backwards()}},
	} {
		e.run(c.name, func(e *env) {
			n, errs := 0, []error{}
			for _, err := range e.s.ReadStream(e.ctx, stream, c.from, c.opts...) {
				n++
				if err != nil {
					errs = append(errs, err)
				}
			}
			require.Equal(e.t, 1, n, "a missing stream yields exactly one item")
			require.Len(e.t, errs, 1, "and it is an error")
			require.ErrorIs(e.t, errs[0], eventstore.ErrStreamNotFound)
			require.Contains(e.t, errs[0].Error(), stream, "the error names the stream")
		})
	}
}

func testReadStreamFilters(e *env) {
	stream := e.stream("filters")
	e.mustAppend(stream, eventstore.NoStream(), event("A"))
	for name, opt := range map[string]eventstore.ReadOption{
		"StreamPrefix": eventstore.StreamPrefix(e.prefix),
		"EventTypes":   eventstore.EventTypes("A"),
	} {
		e.run(name, func(e *env) {
			evs, err := collect(e.s.ReadStream(e.ctx, stream, 0, opt))
			require.ErrorIs(e.t, err, eventstore.ErrInvalidReadOption)
			require.Empty(e.t, evs, "a refused read yields no event")
		})
	}
}

func testReadStreamInvalidName(e *env) {
	for _, name := range []string{"", "$system", "has space"} {
		_, err := collect(e.s.ReadStream(e.ctx, name, 0))
		require.ErrorIs(e.t, err, eventstore.ErrInvalidStreamName, "read stream %q", name)
	}
}

// testReadStreamStopEarly: breaking out of the loop stops the iterator (it must not
// call yield again, which would panic).
func testReadStreamStopEarly(e *env) {
	stream := e.stream("stop")
	e.tenEvents(stream)
	n := 0
	for _, err := range e.s.ReadStream(e.ctx, stream, 0) {
		require.NoError(e.t, err)
		n++
		if n == 3 {
			break
		}
	}
	require.Equal(e.t, 3, n)
	n = 0
	for _, err := range e.s.ReadStream(e.ctx, stream, eventstore.StreamEnd, eventstore.Backwards()) {
		require.NoError(e.t, err)
		n++
		break
	}
	require.Equal(e.t, 1, n)
}
