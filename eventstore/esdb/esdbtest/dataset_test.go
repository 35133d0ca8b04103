package esdbtest_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
)

// The behaviours the client's own suite tests against the data its server image
// ships (dataset20M-*, resources/test/*.json), tested here against data each test
// writes. The harness that runs the client's suite (../clientsuite_test.go) names
// these tests in place of the ones it cannot run. They use only the client, so they
// run against a real server too when IDEM_ESDB_URL names one.

// target returns a client for the server the tests run against: the one
// IDEM_ESDB_URL names, or a fresh emulator.
func target(t *testing.T) *esdb.Client {
	t.Helper()
	url := os.Getenv("IDEM_ESDB_URL")
	if url == "" {
		url = esdbtest.Start(t).URL()
	}
	cfg, err := esdb.ParseConnectionString(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dataset is what a test wrote: events by stream, in the order written, with the
// time window they were written in.
type dataset struct {
	events         map[string][]esdb.EventData
	after, before  time.Time
	streams        []string
	writtenInOrder []esdb.EventData // across streams
	streamOf       map[uuid.UUID]string
}

// writeDataset appends perStream events to each of streams, batch events at a time,
// taking turns between streams, with alternating content types and types
// "<typePrefix>-<i%3>".
func writeDataset(t *testing.T, c *esdb.Client, streams []string, perStream, batch int, typePrefix string) *dataset {
	t.Helper()
	d := &dataset{events: map[string][]esdb.EventData{}, streams: streams, streamOf: map[uuid.UUID]string{}}
	d.after = time.Now().Add(-time.Second) // server and client clocks may differ a little
	for written := 0; written < perStream; written += batch {
		for _, s := range streams {
			var evs []esdb.EventData
			for i := written; i < min(written+batch, perStream); i++ {
				e := esdb.EventData{
					EventID:     uuid.New(),
					EventType:   fmt.Sprintf("%s-%d", typePrefix, i%3),
					ContentType: esdb.ContentTypeJson,
					Data:        fmt.Appendf(nil, `{"stream":%q,"n":%d}`, s, i),
					Metadata:    fmt.Appendf(nil, `{"n":%d}`, i),
				}
				if i%2 == 1 {
					e.ContentType, e.Data = esdb.ContentTypeBinary, []byte{byte(i), 0xbe, 0xef}
				}
				evs = append(evs, e)
				d.streamOf[e.EventID] = s
			}
			if _, err := c.AppendToStream(context.Background(), s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, evs...); err != nil {
				t.Fatal(err)
			}
			d.events[s] = append(d.events[s], evs...)
			d.writtenInOrder = append(d.writtenInOrder, evs...)
		}
	}
	d.before = time.Now().Add(time.Second)
	return d
}

// reader reads whole results for a test: read(t).events(c.ReadStream(...)).
type reader struct{ t *testing.T }

func read(t *testing.T) reader { return reader{t} }

// events reads rs to the end; any error fails the test.
func (r reader) events(rs *esdb.ReadStream, err error) []*esdb.RecordedEvent {
	t := r.t
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	evs, err := readAll(t, rs)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*esdb.RecordedEvent, len(evs))
	for i, e := range evs {
		out[i] = e.Event
	}
	return out
}

// positionsInAll reads $all forwards from the dataset's first event and returns the
// position of each of its events, by id.
func positionsInAll(t *testing.T, c *esdb.Client, d *dataset) map[uuid.UUID]esdb.Position {
	t.Helper()
	first := d.writtenInOrder[0]
	s := d.streamOf[first.EventID]
	head := read(t).events(c.ReadStream(context.Background(), s, esdb.ReadStreamOptions{}, 1))
	all := read(t).events(c.ReadAll(context.Background(), esdb.ReadAllOptions{From: head[0].Position}, 100_000))
	pos := map[uuid.UUID]esdb.Position{}
	for _, e := range all {
		if _, ours := d.streamOf[e.EventID]; ours {
			pos[e.EventID] = e.Position
		}
	}
	if len(pos) != len(d.writtenInOrder) {
		t.Fatalf("$all from the first written event holds %d of the %d events written", len(pos), len(d.writtenInOrder))
	}
	return pos
}

// checkEvent compares a read event with what was written as revision rev of stream.
func checkEvent(t *testing.T, d *dataset, stream string, rev uint64, got *esdb.RecordedEvent, pos map[uuid.UUID]esdb.Position) {
	t.Helper()
	want := d.events[stream][rev]
	switch {
	case got.EventID != want.EventID:
		t.Fatalf("%s@%d: id %v, want %v", stream, rev, got.EventID, want.EventID)
	case got.StreamID != stream || got.EventNumber != rev:
		t.Fatalf("%s@%d: read as %s@%d", stream, rev, got.StreamID, got.EventNumber)
	case got.EventType != want.EventType:
		t.Fatalf("%s@%d: type %q, want %q", stream, rev, got.EventType, want.EventType)
	case got.ContentType != contentTypes[want.ContentType]:
		t.Fatalf("%s@%d: content type %q, want %q", stream, rev, got.ContentType, contentTypes[want.ContentType])
	case !bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.UserMetadata, want.Metadata):
		t.Fatalf("%s@%d: data %q metadata %q, want %q and %q", stream, rev, got.Data, got.UserMetadata, want.Data, want.Metadata)
	case got.CreatedDate.Before(d.after) || got.CreatedDate.After(d.before):
		t.Fatalf("%s@%d: created %v, outside the write window %v..%v", stream, rev, got.CreatedDate, d.after, d.before)
	case got.CreatedDate.Nanosecond()%100 != 0:
		t.Fatalf("%s@%d: created %v is finer than the server's 100 ns ticks", stream, rev, got.CreatedDate)
	case got.Position.Commit != got.Position.Prepare:
		t.Fatalf("%s@%d: position %+v, want commit == prepare for an event appended over gRPC", stream, rev, got.Position)
	case pos != nil && got.Position != pos[got.EventID]:
		t.Fatalf("%s@%d: stream read says position %+v, $all says %+v", stream, rev, got.Position, pos[got.EventID])
	}
}

// contentTypes are the strings the server stores for the client's content types.
var contentTypes = map[esdb.ContentType]string{
	esdb.ContentTypeJson:   "application/json",
	esdb.ContentTypeBinary: "application/octet-stream",
}

// uniqueStreams returns n stream names no other test or run uses.
func uniqueStreams(n int) []string {
	id := uuid.NewString()
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("dataset-%s-%d", id, i)
	}
	return out
}

// Stands in for the client's readStreamEventsForwardsFromZeroPosition.
func TestReadStreamForwardsFromStartCarriesEveryField(t *testing.T) {
	c := target(t)
	d := writeDataset(t, c, uniqueStreams(2), 20, 5, "Dataset")
	pos := positionsInAll(t, c, d)
	s := d.streams[1]
	got := read(t).events(c.ReadStream(context.Background(), s, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Start{}}, 10))
	if len(got) != 10 {
		t.Fatalf("read %d events, want 10", len(got))
	}
	for i, e := range got {
		checkEvent(t, d, s, uint64(i), e, pos)
	}
}

// Stands in for the client's readStreamEventsBackwardsFromEndPosition.
func TestReadStreamBackwardsFromEnd(t *testing.T) {
	c := target(t)
	d := writeDataset(t, c, uniqueStreams(2), 20, 5, "Dataset")
	pos := positionsInAll(t, c, d)
	s := d.streams[0]
	got := read(t).events(c.ReadStream(context.Background(), s, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10))
	if len(got) != 10 {
		t.Fatalf("read %d events, want 10", len(got))
	}
	for i, e := range got {
		checkEvent(t, d, s, uint64(19-i), e, pos)
	}
}

// recvEvent returns the next event a subscription delivers, skipping checkpoints and
// caught-up, or fails after timeout.
func recvEvent(t *testing.T, sub *esdb.Subscription, timeout time.Duration) *esdb.RecordedEvent {
	t.Helper()
	deadline := time.After(timeout)
	got := make(chan *esdb.SubscriptionEvent, 1)
	for {
		go func() { got <- sub.Recv() }()
		select {
		case ev := <-got:
			if ev.SubscriptionDropped != nil {
				t.Fatalf("subscription dropped: %v", ev.SubscriptionDropped.Error)
			}
			if ev.EventAppeared != nil {
				return ev.EventAppeared.Event
			}
		case <-deadline:
			t.Fatal("timed out waiting for an event")
		}
	}
}

// Stands in for the client's streamSubscriptionDeliversAllEventsInStreamAndListensForNewEvents.
func TestStreamSubscriptionCatchesUpThenGoesLive(t *testing.T) {
	c := target(t)
	d := writeDataset(t, c, uniqueStreams(1), 600, 100, "Dataset")
	s := d.streams[0]
	sub, err := c.SubscribeToStream(context.Background(), s, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 600 {
		checkEvent(t, d, s, uint64(i), recvEvent(t, sub, 5*time.Second), nil)
	}
	live := esdb.EventData{EventID: uuid.New(), EventType: "Live", ContentType: esdb.ContentTypeBinary,
		Data: []byte{0xb, 0xe, 0xe, 0xf}, Metadata: []byte{0xd, 0xe, 0xa, 0xd}}
	wr, err := c.AppendToStream(context.Background(), s, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(599)}, live)
	if err != nil || wr.NextExpectedVersion != 600 {
		t.Fatalf("append at revision 599: %+v, %v", wr, err)
	}
	e := recvEvent(t, sub, 5*time.Second)
	if e.EventID != live.EventID || e.EventNumber != 600 || e.StreamID != s || !bytes.Equal(e.Data, live.Data) || !bytes.Equal(e.UserMetadata, live.Metadata) {
		t.Fatalf("live event %s@%d %v, want the appended one at 600", e.StreamID, e.EventNumber, e.EventID)
	}
}

// Stands in for the client's allSubscriptionWithFilterDeliversCorrectEvents.
func TestAllSubscriptionFiltersByEventTypePrefix(t *testing.T) {
	c := target(t)
	prefix := "Filtered" + uuid.NewString()[:8]
	d := writeDataset(t, c, uniqueStreams(3), 30, 4, prefix)
	pos := positionsInAll(t, c, d)
	var want []esdb.EventData // in $all order, which is the order written
	for _, e := range d.writtenInOrder {
		if e.EventType == prefix+"-1" {
			want = append(want, e)
		}
	}
	sub, err := c.SubscribeToAll(context.Background(), esdb.SubscribeToAllOptions{
		From:   esdb.Start{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{prefix + "-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for _, w := range want {
		e := recvEvent(t, sub, 5*time.Second)
		if e.EventID != w.EventID || e.EventType != w.EventType || e.Position != pos[w.EventID] {
			t.Fatalf("got %s %s at %+v, want %s at %+v", e.EventID, e.EventType, e.Position, w.EventID, pos[w.EventID])
		}
		var rev uint64
		for i, x := range d.events[d.streamOf[w.EventID]] {
			if x.EventID == w.EventID {
				rev = uint64(i)
			}
		}
		if e.EventNumber != rev {
			t.Fatalf("%s: revision %d, want %d", e.EventID, e.EventNumber, rev)
		}
	}
}

// Stands in for the client's connectionClosing.
func TestClosingASubscriptionDropsIt(t *testing.T) {
	c := target(t)
	d := writeDataset(t, c, uniqueStreams(1), 20, 20, "Dataset")
	sub, err := c.SubscribeToStream(context.Background(), d.streams[0], esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		recvEvent(t, sub, 5*time.Second)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	dropped := make(chan struct{})
	go func() {
		defer close(dropped)
		for sub.Recv().SubscriptionDropped == nil {
		}
	}()
	select {
	case <-dropped:
	case <-time.After(5 * time.Second):
		t.Fatal("the closed subscription was not dropped")
	}
}

// Stands in for the client's subscriptionToStreamCaughtUpMessage.
func TestStreamSubscriptionCaughtUpAfterTheLastEvent(t *testing.T) {
	c := target(t)
	d := writeDataset(t, c, uniqueStreams(1), 600, 150, "Dataset")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := c.SubscribeToStream(ctx, d.streams[0], esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	n := 0
	for {
		ev := sub.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			t.Fatalf("dropped after %d events: %v", n, ev.SubscriptionDropped.Error)
		case ev.EventAppeared != nil:
			n++
		case ev.CaughtUp != nil:
			if n != 600 {
				t.Fatalf("caught up after %d events, want 600", n)
			}
			return
		}
	}
}

// readAllFrom reads count records of $all.
func readAllFrom(t *testing.T, c *esdb.Client, opts esdb.ReadAllOptions, count uint64) []*esdb.RecordedEvent {
	t.Helper()
	return read(t).events(c.ReadAll(context.Background(), opts, count))
}

// checkOrder fails unless positions strictly increase (forwards) or decrease.
func checkOrder(t *testing.T, evs []*esdb.RecordedEvent, forwards bool) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		a, b := evs[i-1].Position, evs[i].Position
		if forwards == (b.Commit <= a.Commit) {
			t.Fatalf("$all out of order at %d: %+v then %+v", i, a, b)
		}
	}
}

// Stands in for the client's readAllEventsForwardsFromZeroPosition.
func TestReadAllForwardsFromStart(t *testing.T) {
	c := target(t)
	d := writeDataset(t, c, uniqueStreams(2), 10, 5, "Dataset")
	first := readAllFrom(t, c, esdb.ReadAllOptions{From: esdb.Start{}}, 10)
	if len(first) != 10 {
		t.Fatalf("read %d records from the start of $all, want 10", len(first))
	}
	checkOrder(t, first, true)
	if first[0].Position.Commit == 0 {
		t.Fatal("a record at position 0: the log starts with headers, not events")
	}
	// Nothing comes before the start.
	if before := readAllFrom(t, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: first[0].Position}, 10); len(before) != 0 {
		t.Fatalf("%d records before the first one", len(before))
	}
	// Every event written is there, in the order written, with its fields.
	pos := positionsInAll(t, c, d)
	all := readAllFrom(t, c, esdb.ReadAllOptions{From: esdb.Start{}}, 100_000)
	checkOrder(t, all, true)
	next := 0
	for _, e := range all {
		if next < len(d.writtenInOrder) && e.EventID == d.writtenInOrder[next].EventID {
			s := d.streamOf[e.EventID]
			checkEvent(t, d, s, e.EventNumber, e, pos)
			next++
		}
	}
	if next != len(d.writtenInOrder) {
		t.Fatalf("found %d of the %d events written, in order", next, len(d.writtenInOrder))
	}
}

// Stands in for the client's readAllEventsForwardsFromNonZeroPosition.
func TestReadAllForwardsFromAPositionIsInclusive(t *testing.T) {
	c := target(t)
	d := writeDataset(t, c, uniqueStreams(2), 10, 5, "Dataset")
	pos := positionsInAll(t, c, d)
	from := d.writtenInOrder[7]
	got := readAllFrom(t, c, esdb.ReadAllOptions{From: pos[from.EventID]}, 5)
	if len(got) != 5 || got[0].EventID != from.EventID {
		t.Fatalf("read from %+v: %d records, first %v; want 5 starting with the event at that position", pos[from.EventID], len(got), got[0].EventID)
	}
	checkOrder(t, got, true)
}

// Stands in for the client's readAllEventsBackwardsFromZeroPosition.
func TestReadAllBackwardsFromEnd(t *testing.T) {
	c := target(t)
	d := writeDataset(t, c, uniqueStreams(2), 10, 5, "Dataset")
	pos := positionsInAll(t, c, d)
	last := d.writtenInOrder[len(d.writtenInOrder)-1]
	// The server may write its own events after ours (the emulator writes stats
	// every other append); read back a little further.
	got := readAllFrom(t, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 40)
	checkOrder(t, got, false)
	i := 0
	for i < len(got) && got[i].EventID != last.EventID {
		i++
	}
	if i == len(got) {
		t.Fatalf("the last event written is not among the last %d records of $all", len(got))
	}
	// From there on, backwards, ours come newest first.
	want := len(d.writtenInOrder) - 1
	for _, e := range got[i:] {
		if want >= 0 && e.EventID == d.writtenInOrder[want].EventID {
			checkEvent(t, d, d.streamOf[e.EventID], e.EventNumber, e, pos)
			want--
		}
	}
	if want >= len(d.writtenInOrder)-10 {
		t.Fatalf("only %d of our events read backwards from the end", len(d.writtenInOrder)-1-want)
	}
}

// Stands in for the client's readAllEventsBackwardsFromNonZeroPosition.
func TestReadAllBackwardsFromAPositionIsExclusive(t *testing.T) {
	c := target(t)
	d := writeDataset(t, c, uniqueStreams(1), 10, 10, "Dataset")
	pos := positionsInAll(t, c, d)
	from := d.writtenInOrder[7]
	got := readAllFrom(t, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: pos[from.EventID]}, 3)
	if len(got) != 3 {
		t.Fatalf("read %d records, want 3", len(got))
	}
	// One append of ten events: nothing else sits between them.
	for i, e := range got {
		if w := d.writtenInOrder[6-i]; e.EventID != w.EventID {
			t.Fatalf("record %d backwards from event 7: %v, want event %d %v (strictly before the position)", i, e.EventID, 6-i, w.EventID)
		}
	}
}
