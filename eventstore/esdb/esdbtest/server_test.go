package esdbtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// These tests drive the emulator with the unmodified client, pinning the protocol
// details the notes list (../shared/notes/esdb-protocol.md): they are what the
// client depends on, not idem's adapter.

func client(t *testing.T, srv *esdbtest.Server) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(srv.URL())
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

func event(typ string) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
}

func codeOf(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}

func readAll(t *testing.T, rs *esdb.ReadStream) ([]*esdb.ResolvedEvent, error) {
	t.Helper()
	defer rs.Close()
	var out []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func TestWrongExpectedVersionText(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, event("A"), event("B")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		stream string
		exp    esdb.ExpectedRevision
		text   string
	}{
		{"s", esdb.Revision(5), "expecting '5' but got '1'"},
		{"s", esdb.NoStream{}, "expecting 'no_stream' but got '1'"},
		{"missing", esdb.Revision(0), "expecting '0' but got 'no_stream'"},
		{"missing", esdb.StreamExists{}, "expecting 'stream_exists' but got 'no_stream'"},
	}
	for _, tc := range cases {
		_, err := c.AppendToStream(ctx, tc.stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.exp}, event("C"))
		if codeOf(err) != esdb.ErrorCodeWrongExpectedVersion || !strings.Contains(err.Error(), tc.text) {
			t.Fatalf("%s %v: err = %v, want WrongExpectedVersion %q", tc.stream, tc.exp, err, tc.text)
		}
	}
}

func TestEventsCarryCreatedAndContentType(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	e := event("A")
	e.Metadata = []byte("meta")
	if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, e); err != nil {
		t.Fatal(err)
	}
	rs, err := c.ReadStream(ctx, "s", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := readAll(t, rs)
	if err != nil || len(evs) != 1 {
		t.Fatalf("read %v, %v", evs, err)
	}
	got := evs[0].Event
	// Without "created" the client would have called log.Fatalf already.
	if got.CreatedDate.Before(before) || got.CreatedDate.After(time.Now().Add(time.Second)) {
		t.Fatalf("created = %v", got.CreatedDate)
	}
	if got.ContentType != "application/json" || got.EventType != "A" || got.EventID != e.EventID || string(got.UserMetadata) != "meta" {
		t.Fatalf("event = %+v", got)
	}
	if got.Position.Commit != got.Position.Prepare || got.Position.Commit == 0 {
		t.Fatalf("position = %+v, want commit == prepare > 0", got.Position)
	}
}

func TestStreamNotFoundAndSoftDelete(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	rs, err := c.ReadStream(ctx, "missing", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatalf("the call itself must not fail: %v", err)
	}
	if _, err := readAll(t, rs); codeOf(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("err = %v, want ResourceNotFound on the first Recv", err)
	}
	// Soft-deleting a stream that never existed fails.
	if _, err := c.DeleteStream(ctx, "missing", esdb.DeleteStreamOptions{}); err == nil {
		t.Fatal("soft delete of a missing stream succeeded")
	}
	if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, event("A"), event("B")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteStream(ctx, "s", esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)}); err != nil {
		t.Fatal(err)
	}
	rs, _ = c.ReadStream(ctx, "s", esdb.ReadStreamOptions{}, 10)
	if _, err := readAll(t, rs); codeOf(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("after soft delete err = %v, want ResourceNotFound", err)
	}
	// StreamExists on a soft-deleted stream: StreamDeleted, not WEV.
	if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, event("C")); codeOf(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("StreamExists after soft delete: %v", err)
	}
	// An append undeletes it; revisions continue and the old events stay hidden.
	wr, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, event("C"))
	if err != nil || wr.NextExpectedVersion != 2 {
		t.Fatalf("undelete: %+v, %v", wr, err)
	}
	rs, _ = c.ReadStream(ctx, "s", esdb.ReadStreamOptions{}, 10)
	evs, err := readAll(t, rs)
	if err != nil || len(evs) != 1 || evs[0].Event.EventNumber != 2 {
		t.Fatalf("after undelete: %d events, %v", len(evs), err)
	}
	// The metastream has an implicit $maxCount of 1: the latest metadata wins.
	meta, err := c.GetStreamMetadata(ctx, "s", esdb.ReadStreamOptions{})
	if err != nil || meta.TruncateBefore() == nil || *meta.TruncateBefore() != 2 {
		t.Fatalf("metadata = %+v, %v; want $tb 2", meta, err)
	}
}

func TestTombstoneSendsTrailers(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, event("A")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TombstoneStream(ctx, "s", esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	// The client reads the stream-name trailer with [0]: a missing one panics.
	rs, err := c.ReadStream(ctx, "s", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, rs); codeOf(err) != esdb.ErrorCodeStreamDeleted || !strings.Contains(err.Error(), "stream 's' is deleted") {
		t.Fatalf("read err = %v, want StreamDeleted", err)
	}
	for _, exp := range []esdb.ExpectedRevision{esdb.Any{}, esdb.NoStream{}} {
		if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: exp}, event("B")); codeOf(err) != esdb.ErrorCodeStreamDeleted {
			t.Fatalf("append %v err = %v, want StreamDeleted", exp, err)
		}
	}
	// The client wraps delete errors itself: esdb.FromError would say Unknown.
	_, err = c.DeleteStream(ctx, "s", esdb.DeleteStreamOptions{})
	if codeOf(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("delete err = %v, want StreamDeleted via errors.As", err)
	}
	// Tombstoning a stream that never existed succeeds.
	if _, err := c.TombstoneStream(ctx, "never", esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	// A stream subscription to a tombstoned stream ends with the raw gRPC status.
	sub, err := c.SubscribeToStream(ctx, "s", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err == nil {
		ev := sub.Recv()
		if ev.SubscriptionDropped == nil || status.Code(ev.SubscriptionDropped.Error) != codes.FailedPrecondition {
			t.Fatalf("subscription to a tombstoned stream: %+v", ev)
		}
	}
}

func TestAnyIdempotencyIsABoundedCache(t *testing.T) {
	// One entry costs 28 bytes + 2 per stream-name byte (1 here): the cache holds 3.
	srv := esdbtest.Start(t, esdbtest.WithIdempotencyCacheBytes(3*30), esdbtest.WithSystemEvents(0))
	c := client(t, srv)
	ctx := context.Background()
	first := event("A")
	if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, first); err != nil {
		t.Fatal(err)
	}
	wr, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, first)
	if err != nil || wr.NextExpectedVersion != 0 || srv.StreamLen("s") != 1 {
		t.Fatalf("retry while cached: %+v, %v, %d events", wr, err, srv.StreamLen("s"))
	}
	for range 3 {
		if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, event("B")); err != nil {
			t.Fatal(err)
		}
	}
	// Evicted: the real server writes the duplicate too.
	if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, first); err != nil || srv.StreamLen("s") != 5 {
		t.Fatalf("retry after eviction: %v, %d events; want a duplicate written", err, srv.StreamLen("s"))
	}
	// Exact is checked against the stream itself: still idempotent.
	wr, err = c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, first)
	if err != nil || wr.NextExpectedVersion != 0 || srv.StreamLen("s") != 5 {
		t.Fatalf("NoStream retry: %+v, %v", wr, err)
	}
}

func TestFilteredSubscriptionCheckpointsAndCaughtUp(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 40 {
		if _, err := c.AppendToStream(ctx, fmt.Sprintf("s-%d", i%3), esdb.AppendToStreamOptions{}, event("A")); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: esdb.ExcludeSystemEventsFilter()})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	events, checkpoints := 0, 0
	var last uint64
	for {
		ev := sub.Recv()
		if ev.SubscriptionDropped != nil {
			t.Fatal(ev.SubscriptionDropped.Error)
		}
		if ev.EventAppeared != nil {
			e := ev.EventAppeared.Event
			if strings.HasPrefix(e.EventType, "$") {
				t.Fatalf("system event through the filter: %+v", e)
			}
			if e.Position.Commit <= last {
				t.Fatal("positions not increasing")
			}
			last = e.Position.Commit
			events++
		}
		if ev.CheckPointReached != nil {
			checkpoints++
		}
		if ev.CaughtUp != nil {
			break
		}
	}
	if events != 40 || checkpoints < 2 {
		t.Fatalf("%d events, %d checkpoints; want 40 and at least 2 (every 32 considered, and on going live)", events, checkpoints)
	}
	// Live, and exclusive starts: a subscription from the last position sees only
	// what comes next.
	sub2, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Position{Commit: last, Prepare: last}, Filter: esdb.ExcludeSystemEventsFilter()})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	e := event("Live")
	if _, err := c.AppendToStream(ctx, "s-live", esdb.AppendToStreamOptions{}, e); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*esdb.Subscription{sub, sub2} {
		for {
			ev := s.Recv()
			if ev.SubscriptionDropped != nil {
				t.Fatal(ev.SubscriptionDropped.Error)
			}
			if ev.EventAppeared != nil {
				if ev.EventAppeared.Event.EventID != e.EventID {
					t.Fatalf("got %v, want the live event", ev.EventAppeared.Event.EventID)
				}
				break
			}
		}
	}
}

func TestDropSubscriptionsAndServerFeatures(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.WithServerVersion("24.10.0"))
	c := client(t, srv)
	ctx := context.Background()
	v, err := c.GetServerVersion()
	if err != nil || v.Major != 24 || v.Minor != 10 {
		t.Fatalf("version %+v, %v", v, err)
	}
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	done := make(chan *esdb.SubscriptionDropped, 1)
	go func() {
		for {
			if ev := sub.Recv(); ev.SubscriptionDropped != nil {
				done <- ev.SubscriptionDropped
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	srv.DropSubscriptions()
	select {
	case d := <-done:
		if status.Code(d.Error) != codes.Unavailable {
			t.Fatalf("dropped with %v, want Unavailable", d.Error)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription not dropped")
	}
}

func TestOversizeAppendTrailers(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.WithMaxAppendSize(100))
	c := client(t, srv)
	e := event("T")
	e.Data = []byte(`"` + strings.Repeat("x", 97) + `"`) // 99 + 2×1 for the type = 101
	_, err := c.AppendToStream(context.Background(), "s", esdb.AppendToStreamOptions{}, e)
	if err == nil || !regexp.MustCompile(`Maximum Append Size of 100 Exceeded`).MatchString(err.Error()) {
		t.Fatalf("err = %v", err)
	}
	if srv.StreamLen("s") != 0 {
		t.Fatal("half-written")
	}
}
