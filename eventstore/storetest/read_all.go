package storetest

import (
	"encoding/json"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var readAllCases = []testCase{
	{"CommitOrder", testReadAllOrder},
	{"AfterIsExclusive", testReadAllAfter},
	{"Limit", testReadAllLimit},
	{"Filters", testReadAllFilters},
	{"BackwardsRefused", testReadAllBackwards},
	{"PositionText", testPositionText},
	{"StopEarly", testReadAllStopEarly},
	{"Head", testHead},
}

// logEntry is an event the test wrote, with the stream and revision it went to.
type logEntry struct {
	id       uuid.UUID
	stream   string
	revision uint64
	typ      string
}

// interleaved writes events of several streams and types in several appends,
// interleaving the streams, and returns them in commit order and the append results.
func (e *env) interleaved() ([]logEntry, []eventstore.AppendResult) {
	e.t.Helper()
	plan := []struct {
		stream string
		typ    string
		n      int
	}{
		{"order-1", "OrderPlaced", 2},
		{"customer-1", "CustomerRegistered", 1},
		{"order-2", "OrderPlaced", 1},
		{"order-1", "OrderShipped", 3},
		{"customer-1", "CustomerMoved", 2},
		{"order-2", "OrderShipped", 1},
		{"invoice-1", "InvoiceIssued", 2},
	}
	var log []logEntry
	var results []eventstore.AppendResult
	next := map[string]uint64{}
	for _, p := range plan {
		stream := e.stream(p.stream)
		evs := events(p.n, p.typ)
		results = append(results, e.mustAppend(stream, eventstore.Any(), evs...))
		for _, ev := range evs {
			log = append(log, logEntry{ev.ID, stream, next[stream], p.typ})
			next[stream]++
		}
	}
	return log, results
}

func testReadAllOrder(e *env) {
	log, results := e.interleaved()
	got := e.readOwn(eventstore.Start())
	require.Len(e.t, got, len(log))
	byPosition := map[eventstore.Position]uuid.UUID{}
	for i, ev := range got {
		require.Equal(e.t, log[i].id, ev.ID, "event %d: the global log is in commit order", i)
		require.Equal(e.t, log[i].stream, ev.Stream)
		require.Equal(e.t, log[i].revision, ev.Revision)
		require.Equal(e.t, log[i].typ, ev.Type)
		if i > 0 {
			require.True(e.t, got[i-1].Position.Less(ev.Position), "positions grow strictly: %s then %s", got[i-1].Position, ev.Position)
		}
		byPosition[ev.Position] = ev.ID
	}
	// Each append's result names the position of its last event.
	end := 0
	for i, n := range []int{2, 1, 1, 3, 2, 1, 2} {
		end += n
		require.Equal(e.t, got[end-1].Position, results[i].Position, "append %d: AppendResult.Position", i)
	}
	// ReadStream reports the same positions as ReadAll.
	for _, ev := range e.readStream(e.stream("order-1"), 0) {
		require.Equal(e.t, ev.ID, byPosition[ev.Position])
	}
}

func testReadAllAfter(e *env) {
	log, _ := e.interleaved()
	all := e.readOwn(eventstore.Start())
	for k := range all {
		after := e.readOwn(all[k].Position)
		require.Equal(e.t, recordedIDs(all[k+1:]), recordedIDs(after), "read all after the position of event %d", k)
	}
	require.Empty(e.t, e.readOwn(all[len(log)-1].Position), "after the last position: nothing")
}

func testReadAllLimit(e *env) {
	e.interleaved()
	all := e.readOwn(eventstore.Start())
	require.Equal(e.t, recordedIDs(all[:3]), recordedIDs(e.readOwn(eventstore.Start(), eventstore.Limit(3))))
	require.Equal(e.t, recordedIDs(all[5:7]), recordedIDs(e.readOwn(all[4].Position, eventstore.Limit(2))))
	require.Equal(e.t, recordedIDs(all), recordedIDs(e.readOwn(eventstore.Start(), eventstore.Limit(len(all)+10))))
	require.Equal(e.t, recordedIDs(all), recordedIDs(e.readOwn(eventstore.Start(), eventstore.Limit(0))), "Limit(0) means no limit")
	// Limit counts the events that pass the filters.
	shipped := e.readOwn(eventstore.Start(), eventstore.EventTypes("OrderShipped"), eventstore.Limit(2))
	require.Len(e.t, shipped, 2)
	for _, ev := range shipped {
		require.Equal(e.t, "OrderShipped", ev.Type)
	}
}

func testReadAllFilters(e *env) {
	log, _ := e.interleaved()
	want := func(keep func(logEntry) bool) []uuid.UUID {
		var out []uuid.UUID
		for _, l := range log {
			if keep(l) {
				out = append(out, l.id)
			}
		}
		return out
	}
	read := func(opts ...eventstore.ReadOption) []uuid.UUID {
		evs, err := collect(e.s.ReadAll(e.ctx, eventstore.Start(), opts...))
		require.NoError(e.t, err)
		return recordedIDs(evs)
	}
	order, customer := e.stream("order-"), e.stream("customer-")
	hasPrefix := func(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

	require.Equal(e.t, want(func(l logEntry) bool { return hasPrefix(l.stream, order) }),
		read(eventstore.StreamPrefix(order)), "one stream prefix")
	require.Equal(e.t, want(func(l logEntry) bool { return hasPrefix(l.stream, order) || hasPrefix(l.stream, customer) }),
		read(eventstore.StreamPrefix(order, customer)), "two stream prefixes")
	require.Equal(e.t, want(func(l logEntry) bool { return l.typ == "OrderShipped" }),
		read(e.own(), eventstore.EventTypes("OrderShipped")), "one event type")
	require.Equal(e.t, want(func(l logEntry) bool { return l.typ == "OrderShipped" || l.typ == "CustomerMoved" }),
		read(e.own(), eventstore.EventTypes("OrderShipped", "CustomerMoved")), "two event types")
	require.Equal(e.t, want(func(l logEntry) bool { return hasPrefix(l.stream, customer) && l.typ == "CustomerMoved" }),
		read(eventstore.StreamPrefix(customer), eventstore.EventTypes("CustomerMoved", "OrderShipped")), "prefix and type")
	require.Empty(e.t, read(e.own(), eventstore.EventTypes("NoSuchType")))
	require.Empty(e.t, read(eventstore.StreamPrefix(e.stream("nosuch-"))))
}

func testReadAllBackwards(e *env) {
	e.mustAppend(e.stream("a"), eventstore.NoStream(), event("A"))
	evs, err := collect(e.s.ReadAll(e.ctx, eventstore.Start(), eventstore.Backwards()))
	require.ErrorIs(e.t, err, eventstore.ErrInvalidReadOption)
	require.Empty(e.t, evs)
}

// testPositionText: every position a store returns survives its text form, which
// is how checkpoints are stored (G8).
func testPositionText(e *env) {
	e.interleaved()
	for _, ev := range e.readOwn(eventstore.Start()) {
		p := ev.Position
		parsed, err := eventstore.ParsePosition(p.String())
		require.NoError(e.t, err)
		require.Equal(e.t, p, parsed)

		text, err := p.MarshalText()
		require.NoError(e.t, err)
		var q eventstore.Position
		require.NoError(e.t, q.UnmarshalText(text))
		require.Equal(e.t, p, q)

		js, err := json.Marshal(p)
		require.NoError(e.t, err)
		var r eventstore.Position
		require.NoError(e.t, json.Unmarshal(js, &r))
		require.Equal(e.t, p, r)
		require.True(e.t, eventstore.Start().Less(p), "every event's position is after Start")
	}
}

func testReadAllStopEarly(e *env) {
	e.interleaved()
	n := 0
	for _, err := range e.s.ReadAll(e.ctx, eventstore.Start(), e.own()) {
		require.NoError(e.t, err)
		n++
		if n == 2 {
			break
		}
	}
	require.Equal(e.t, 2, n)
}

// testHead: a store that implements eventstore.HeadReader reports the position of
// the last event.
func testHead(e *env) {
	h, ok := e.s.(eventstore.HeadReader)
	if !ok {
		e.t.Skip("the store does not implement eventstore.HeadReader")
	}
	var last eventstore.Position
	for i := range 3 {
		res := e.mustAppend(e.stream("head"), eventstore.Any(), events(i+1, "A")...)
		head, err := h.Head(e.ctx)
		require.NoError(e.t, err)
		require.Equal(e.t, res.Position, head, "Head after append %d", i)
		last = res.Position
	}
	all := e.readOwn(eventstore.Start())
	require.Equal(e.t, last, all[len(all)-1].Position)
}
