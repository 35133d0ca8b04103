package esdbtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
)

// Stream metadata as the server acts on it (IndexReader, StreamMetadata in
// KurrentDB): $tb, $maxCount and $maxAge hide events from stream reads and from the
// catch-up part of stream subscriptions, never from $all.

// appendN appends n events to stream and returns them in order.
func appendN(t *testing.T, c *esdb.Client, stream string, n int) []esdb.EventData {
	t.Helper()
	evs := make([]esdb.EventData, n)
	for i := range evs {
		evs[i] = event("E")
	}
	if _, err := c.AppendToStream(context.Background(), stream, esdb.AppendToStreamOptions{}, evs...); err != nil {
		t.Fatal(err)
	}
	return evs
}

// setMeta writes stream's metadata.
func setMeta(t *testing.T, c *esdb.Client, stream string, m esdb.StreamMetadata) {
	t.Helper()
	if _, err := c.SetStreamMetadata(context.Background(), stream, esdb.AppendToStreamOptions{}, m); err != nil {
		t.Fatal(err)
	}
}

// revisions reads stream and returns the revisions it gets; a read error fails the test.
func revisions(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) []uint64 {
	t.Helper()
	rs, err := c.ReadStream(context.Background(), stream, opts, count)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := readAll(t, rs)
	if err != nil {
		t.Fatalf("read %s %+v: %v", stream, opts, err)
	}
	out := []uint64{}
	for _, e := range evs {
		out = append(out, e.Event.EventNumber)
	}
	return out
}

func equalRevs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// inAll counts stream's events in $all.
func inAll(t *testing.T, c *esdb.Client, stream string) int {
	t.Helper()
	rs, err := c.ReadAll(context.Background(), esdb.ReadAllOptions{From: esdb.Start{}}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := readAll(t, rs)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Event.StreamID == stream {
			n++
		}
	}
	return n
}

func TestTruncateBeforeHidesEventsFromStreamReads(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	appendN(t, c, "s", 5)
	var m esdb.StreamMetadata
	m.SetTruncateBefore(3)
	setMeta(t, c, "s", m)

	cases := []struct {
		name  string
		opts  esdb.ReadStreamOptions
		count uint64
		want  []uint64
	}{
		{"forwards from start", esdb.ReadStreamOptions{From: esdb.Start{}}, 10, []uint64{3, 4}},
		{"forwards from a hidden revision starts at $tb", esdb.ReadStreamOptions{From: esdb.Revision(1)}, 1, []uint64{3}},
		{"backwards from end", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10, []uint64{4, 3}},
		{"backwards from a hidden revision is empty, not not-found", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(2)}, 10, []uint64{}},
	}
	for _, tc := range cases {
		if got := revisions(t, c, "s", tc.opts, tc.count); !equalRevs(got, tc.want) {
			t.Errorf("%s: revisions %v, want %v", tc.name, got, tc.want)
		}
	}
	if n := inAll(t, c, "s"); n != 5 {
		t.Errorf("$all holds %d of the stream's events, want all 5: it ignores stream metadata", n)
	}
	// Appends go on at the stream's end, not at $tb.
	wr, err := c.AppendToStream(context.Background(), "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(4)}, event("F"))
	if err != nil || wr.NextExpectedVersion != 5 {
		t.Fatalf("append after $tb: %+v, %v", wr, err)
	}
}

func TestTruncateBeforeInStreamSubscriptions(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appendN(t, c, "s", 4)
	var m esdb.StreamMetadata
	m.SetTruncateBefore(2)
	setMeta(t, c, "s", m)

	sub, err := c.SubscribeToStream(ctx, "s", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var caughtUp []uint64
	for {
		ev := sub.Recv()
		if ev.SubscriptionDropped != nil {
			t.Fatal(ev.SubscriptionDropped.Error)
		}
		if ev.EventAppeared != nil {
			caughtUp = append(caughtUp, ev.EventAppeared.Event.EventNumber)
		}
		if ev.CaughtUp != nil {
			break
		}
	}
	if !equalRevs(caughtUp, []uint64{2, 3}) {
		t.Fatalf("catch-up delivered %v, want [2 3]", caughtUp)
	}
	// Live events come from the subscription service, which does not read metadata.
	m.SetTruncateBefore(100)
	setMeta(t, c, "s", m)
	appendN(t, c, "s", 1)
	for {
		ev := sub.Recv()
		if ev.SubscriptionDropped != nil {
			t.Fatal(ev.SubscriptionDropped.Error)
		}
		if ev.EventAppeared != nil {
			if n := ev.EventAppeared.Event.EventNumber; n != 4 {
				t.Fatalf("live event %d, want 4", n)
			}
			break
		}
	}
}

func TestMaxCountKeepsTheLastEvents(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	appendN(t, c, "s", 5)
	var m esdb.StreamMetadata
	m.SetMaxCount(2)
	setMeta(t, c, "s", m)
	if got := revisions(t, c, "s", esdb.ReadStreamOptions{}, 10); !equalRevs(got, []uint64{3, 4}) {
		t.Fatalf("forwards: %v, want [3 4]", got)
	}
	appendN(t, c, "s", 1)
	if got := revisions(t, c, "s", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10); !equalRevs(got, []uint64{5, 4}) {
		t.Fatalf("backwards after one more append: %v, want [5 4]", got)
	}
	// With both, the higher floor wins.
	m.SetTruncateBefore(5)
	setMeta(t, c, "s", m)
	if got := revisions(t, c, "s", esdb.ReadStreamOptions{}, 10); !equalRevs(got, []uint64{5}) {
		t.Fatalf("$maxCount 2 and $tb 5: %v, want [5]", got)
	}
}

func TestMaxAgeIsCheckedAtReadTime(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	appendN(t, c, "s", 2)
	var m esdb.StreamMetadata
	m.SetMaxAge(time.Second)
	setMeta(t, c, "s", m)
	if got := revisions(t, c, "s", esdb.ReadStreamOptions{}, 10); !equalRevs(got, []uint64{0, 1}) {
		t.Fatalf("before a second: %v, want [0 1]", got)
	}
	time.Sleep(1100 * time.Millisecond)
	if got := revisions(t, c, "s", esdb.ReadStreamOptions{}, 10); len(got) != 0 {
		t.Fatalf("after a second: %v, want an empty read (EOF, not not-found)", got)
	}
	appendN(t, c, "s", 1)
	if got := revisions(t, c, "s", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10); !equalRevs(got, []uint64{2}) {
		t.Fatalf("with a fresh event: %v, want [2]", got)
	}
}

func TestMalformedMetadataCountsAsNone(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	appendN(t, c, "s", 3)
	// The server reads system keys as integer tokens; one of the wrong type voids the
	// whole metadata (StreamMetadata.TryFromJsonBytes returns Empty).
	for _, data := range []string{`{"$tb":"2"}`, `{"$tb":2,"$maxCount":"x"}`, `{"$tb":2.0}`, `{"$tb":2,"$acl":"$userStreamAcl"}`, `[2]`, `not json`} {
		if _, err := c.AppendToStream(ctx, "$$s", esdb.AppendToStreamOptions{}, esdb.EventData{
			EventType: "$metadata", ContentType: esdb.ContentTypeJson, Data: []byte(data),
		}); err != nil {
			t.Fatal(err)
		}
		if got := revisions(t, c, "s", esdb.ReadStreamOptions{}, 10); !equalRevs(got, []uint64{0, 1, 2}) {
			t.Errorf("metadata %s: read %v, want every event", data, got)
		}
	}
	// Only JSON content counts as metadata.
	if _, err := c.AppendToStream(ctx, "$$s", esdb.AppendToStreamOptions{}, esdb.EventData{
		EventType: "$metadata", ContentType: esdb.ContentTypeBinary, Data: []byte(`{"$tb":2}`),
	}); err != nil {
		t.Fatal(err)
	}
	if got := revisions(t, c, "s", esdb.ReadStreamOptions{}, 10); !equalRevs(got, []uint64{0, 1, 2}) {
		t.Errorf("binary metadata: read %v, want every event", got)
	}
	// Non-positive values are dropped one by one; the rest applies.
	if _, err := c.AppendToStream(ctx, "$$s", esdb.AppendToStreamOptions{}, esdb.EventData{
		EventType: "$metadata", ContentType: esdb.ContentTypeJson, Data: []byte(`{"$maxCount":0,"$tb":2}`),
	}); err != nil {
		t.Fatal(err)
	}
	if got := revisions(t, c, "s", esdb.ReadStreamOptions{}, 10); !equalRevs(got, []uint64{2}) {
		t.Errorf(`{"$maxCount":0,"$tb":2}: read %v, want [2]`, got)
	}
}

func TestMetadataUndeletesASoftDeletedStream(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	appendN(t, c, "s", 2)
	if _, err := c.DeleteStream(ctx, "s", esdb.DeleteStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	// Deleting it again is allowed: the stream still has a current version.
	if _, err := c.DeleteStream(ctx, "s", esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)}); err != nil {
		t.Fatalf("second soft delete: %v", err)
	}
	var m esdb.StreamMetadata
	m.SetMaxCount(10)
	setMeta(t, c, "s", m)
	// The server rewrites the new metadata with $tb after the last event.
	got, err := c.GetStreamMetadata(ctx, "s", esdb.ReadStreamOptions{})
	if err != nil || got.TruncateBefore() == nil || *got.TruncateBefore() != 2 || got.MaxCount() == nil || *got.MaxCount() != 10 {
		t.Fatalf("metadata after undelete: %+v, %v; want $tb 2 and $maxCount 10", got, err)
	}
	if revs := revisions(t, c, "s", esdb.ReadStreamOptions{}, 10); len(revs) != 0 {
		t.Fatalf("read after undelete: %v, want empty (found, old events hidden)", revs)
	}
}

func TestStreamExistsAcceptsAStreamWithOnlyMetadata(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	var m esdb.StreamMetadata
	m.SetMaxCount(3)
	setMeta(t, c, "s", m)
	wr, err := c.AppendToStream(context.Background(), "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, event("A"))
	if err != nil || wr.NextExpectedVersion != 0 {
		t.Fatalf("StreamExists on a stream with metadata only: %+v, %v", wr, err)
	}
}

func TestMetastreamOfATombstonedStreamIsDeleted(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	appendN(t, c, "s", 1)
	if _, err := c.TombstoneStream(ctx, "s", esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetStreamMetadata(ctx, "s", esdb.ReadStreamOptions{}); codeOf(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("metadata of a tombstoned stream: %v, want stream deleted", err)
	}
}

func TestAppendReportsItsLastEventPosition(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	evs := []esdb.EventData{event("A"), event("B"), event("C")}
	wr, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := c.ReadStream(ctx, "s", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	got, err := readAll(t, rs)
	if err != nil || len(got) != 1 {
		t.Fatalf("read back: %v, %v", got, err)
	}
	if p := got[0].Event.Position; wr.CommitPosition != p.Commit || wr.PreparePosition != p.Prepare {
		t.Fatalf("append reported %d/%d, its last event is at %d/%d (StorageChaser acks the prepare that ends the transaction)",
			wr.CommitPosition, wr.PreparePosition, p.Commit, p.Prepare)
	}
	// A retry is answered with the original's revision and position: nothing tells
	// the two apart.
	again, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...)
	if err != nil || *again != *wr {
		t.Fatalf("retry: %+v, %v; want the original %+v", again, err, wr)
	}
	// Unless the original's last event is hidden: the server reads it through the
	// stream's metadata and finds nothing, and the reply has no position (0/0 here).
	var m esdb.StreamMetadata
	m.SetTruncateBefore(3)
	setMeta(t, c, "s", m)
	hidden, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...)
	if err != nil || hidden.NextExpectedVersion != 2 || hidden.CommitPosition != 0 || hidden.PreparePosition != 0 {
		t.Fatalf("retry of a truncated original: %+v, %v; want revision 2 and no position", hidden, err)
	}
	if srv.StreamLen("s") != 3 {
		t.Fatalf("the retries wrote: %d events", srv.StreamLen("s"))
	}
}
