package storetest

import (
	"context"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

// The optional StreamLister: a store that lists its streams must list each once,
// by name, with its count and last event, exactly as reading the log says
// (eventstore.ScanStreams); a store that does not skips this group.

var streamsCases = []testCase{
	{"ListsEachStreamWithItsLastEvent", testStreamsList},
	{"FiltersByPrefix", testStreamsPrefix},
	{"AgreesWithTheLog", testStreamsAgreeWithScan},
	{"ListingStopsOnContextAndClose", testStreamsStops},
}

// lister returns the store as a StreamLister, or skips.
func (e *env) lister() eventstore.StreamLister {
	e.t.Helper()
	l, ok := e.s.(eventstore.StreamLister)
	if !ok {
		e.t.Skipf("%T does not implement eventstore.StreamLister", e.s)
	}
	return l
}

// listStreams collects a listing, failing the test on error.
func (e *env) listStreams(seq func(func(eventstore.StreamInfo, error) bool)) []eventstore.StreamInfo {
	e.t.Helper()
	var out []eventstore.StreamInfo
	for info, err := range seq {
		require.NoError(e.t, err, "list streams")
		out = append(out, info)
	}
	return out
}

func testStreamsList(e *env) {
	l := e.lister()
	b, a, c := e.stream("b"), e.stream("a"), e.stream("c")
	e.mustAppend(b, eventstore.NoStream(), events(2, "B")...)
	e.mustAppend(a, eventstore.NoStream(), events(1, "A")...)
	e.mustAppend(c, eventstore.NoStream(), events(3, "C")...)
	e.mustAppend(a, eventstore.Exact(0), events(2, "A")...)
	got := e.listStreams(l.Streams(e.ctx, eventstore.StreamFilter{Prefix: e.prefix}))
	require.Len(e.t, got, 3)
	for i, want := range []struct {
		name string
		n    uint64
	}{{a, 3}, {b, 2}, {c, 3}} {
		evs := e.readStream(want.name, 0)
		last := evs[len(evs)-1]
		require.Equal(e.t, want.name, got[i].Name, "streams are listed by name")
		require.Equal(e.t, want.n, got[i].Events, "%s: events", want.name)
		require.Equal(e.t, last.Revision, got[i].LastRevision, "%s: last revision", want.name)
		require.Equal(e.t, last.Position, got[i].LastPosition, "%s: last position", want.name)
		require.True(e.t, last.RecordedAt.Equal(got[i].LastWrite), "%s: last write %v, its last event says %v",
			want.name, got[i].LastWrite, last.RecordedAt)
	}
}

func testStreamsPrefix(e *env) {
	l := e.lister()
	e.mustAppend(e.stream("invoice-1"), eventstore.NoStream(), events(1, "I")...)
	e.mustAppend(e.stream("invoice-2"), eventstore.NoStream(), events(1, "I")...)
	e.mustAppend(e.stream("invoicing-1"), eventstore.NoStream(), events(1, "I")...)
	e.mustAppend(e.stream("payment-1"), eventstore.NoStream(), events(1, "P")...)
	got := e.listStreams(l.Streams(e.ctx, eventstore.StreamFilter{Prefix: e.stream("invoice-")}))
	require.Len(e.t, got, 2)
	require.Equal(e.t, e.stream("invoice-1"), got[0].Name)
	require.Equal(e.t, e.stream("invoice-2"), got[1].Name)
	none := e.listStreams(l.Streams(e.ctx, eventstore.StreamFilter{Prefix: e.stream("shipment-")}))
	require.Empty(e.t, none)
}

func testStreamsAgreeWithScan(e *env) {
	l := e.lister()
	for i, name := range []string{"x-1", "x-2", "y", "x-1", "z", "x-2", "x-1"} {
		s := e.stream(name)
		e.mustAppend(s, eventstore.Any(), events(1+i%2, "E")...)
	}
	filter := eventstore.StreamFilter{Prefix: e.prefix}
	listed := e.listStreams(l.Streams(e.ctx, filter))
	scanned := e.listStreams(eventstore.ScanStreams(e.ctx, e.s, filter))
	require.Len(e.t, listed, len(scanned))
	for i := range listed {
		require.Equal(e.t, scanned[i].Name, listed[i].Name)
		require.Equal(e.t, scanned[i].Events, listed[i].Events, "%s", listed[i].Name)
		require.Equal(e.t, scanned[i].LastPosition, listed[i].LastPosition, "%s", listed[i].Name)
		require.True(e.t, scanned[i].LastWrite.Equal(listed[i].LastWrite), "%s", listed[i].Name)
	}
}

func testStreamsStops(e *env) {
	l := e.lister()
	e.mustAppend(e.stream("one"), eventstore.NoStream(), events(1, "E")...)
	e.mustAppend(e.stream("two"), eventstore.NoStream(), events(1, "E")...)
	n := 0
	for _, err := range l.Streams(e.ctx, eventstore.StreamFilter{Prefix: e.prefix}) {
		require.NoError(e.t, err)
		n++
		break
	}
	require.Equal(e.t, 1, n, "the listing stops when the caller stops ranging")
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	for _, err := range l.Streams(ctx, eventstore.StreamFilter{Prefix: e.prefix}) {
		require.ErrorIs(e.t, err, context.Canceled)
		break
	}
	require.NoError(e.t, e.s.Close())
	errs := 0
	for _, err := range l.Streams(e.ctx, eventstore.StreamFilter{}) {
		require.ErrorIs(e.t, err, eventstore.ErrClosed)
		errs++
	}
	require.Equal(e.t, 1, errs, "a closed store yields one error")
}
