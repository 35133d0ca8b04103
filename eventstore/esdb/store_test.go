package esdb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/esdb"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openEmulated starts an emulator and opens a Store on it; both close with the test.
func openEmulated(t testing.TB, opts ...esdb.Option) (*esdb.Store, *esdbtest.Server) {
	t.Helper()
	srv := esdbtest.Start(t)
	opts = append([]esdb.Option{esdb.WithLogger(quiet), esdb.WithResubscribeBackoff(10*time.Millisecond, 100*time.Millisecond)}, opts...)
	st, err := esdb.Open(context.Background(), srv.URL(), opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, srv
}

func ev(typ, data string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(data)}
}

func collect(t testing.TB, seq func(func(eventstore.RecordedEvent, error) bool)) ([]eventstore.RecordedEvent, error) {
	t.Helper()
	var out []eventstore.RecordedEvent
	for e, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

func TestRoundTrip(t *testing.T) {
	st, _ := openEmulated(t)
	ctx := context.Background()
	a, b := ev("Opened", `{"n":1}`), ev("Deposited", `{"n":2}`)
	a.Metadata = []byte(`{"cmd":"c1"}`)
	res, err := st.Append(ctx, "acct-1", eventstore.NoStream(), a, b)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if res.Revision != 1 {
		t.Fatalf("revision = %d, want 1", res.Revision)
	}
	got, err := collect(t, st.ReadStream(ctx, "acct-1", 0))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID {
		t.Fatalf("read back %+v", got)
	}
	if got[0].Type != "Opened" || !bytes.Equal(got[0].Data, a.Data) || !bytes.Equal(got[0].Metadata, a.Metadata) || got[0].Stream != "acct-1" {
		t.Fatalf("event 0 = %+v", got[0])
	}
	if got[0].RecordedAt.IsZero() || time.Since(got[0].RecordedAt) > time.Minute {
		t.Fatalf("RecordedAt = %v", got[0].RecordedAt)
	}
	if res.Position != got[1].Position {
		t.Fatalf("append position %v, last event's position %v", res.Position, got[1].Position)
	}
	back, err := collect(t, st.ReadStream(ctx, "acct-1", eventstore.StreamEnd, eventstore.Backwards()))
	if err != nil || len(back) != 2 || back[0].ID != b.ID {
		t.Fatalf("backwards read %v, %v", back, err)
	}
}

func TestPositionsAreNotContiguousAndSystemEventsAreFiltered(t *testing.T) {
	st, _ := openEmulated(t)
	ctx := context.Background()
	for i := range 5 {
		if _, err := st.Append(ctx, fmt.Sprintf("s-%d", i), eventstore.NoStream(), ev("T", `{}`)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := collect(t, st.ReadAll(ctx, eventstore.Start()))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("ReadAll gave %d events, want the 5 user events (system events are in the emulated log)", len(all))
	}
	gapSeen := false
	for i, e := range all {
		if strings.HasPrefix(e.Stream, "$") || strings.HasPrefix(e.Type, "$") {
			t.Fatalf("system event in ReadAll: %+v", e)
		}
		if e.Position.Commit != e.Position.Prepare {
			t.Fatalf("commit != prepare for a gRPC-written event: %v", e.Position)
		}
		if i > 0 {
			if !all[i-1].Position.Less(e.Position) {
				t.Fatalf("positions not increasing: %v then %v", all[i-1].Position, e.Position)
			}
			if e.Position.Commit-all[i-1].Position.Commit > 1 {
				gapSeen = true
			}
		}
	}
	if !gapSeen {
		t.Fatal("positions are contiguous; the emulator must model byte offsets")
	}
	// Exclusive of after, even though the server's forward read is inclusive.
	rest, err := collect(t, st.ReadAll(ctx, all[1].Position))
	if err != nil || len(rest) != 3 || rest[0].ID != all[2].ID {
		t.Fatalf("ReadAll after #1: %v, %v", rest, err)
	}
	head, err := st.Head(ctx)
	if err != nil || head != all[4].Position {
		t.Fatalf("Head = %v, %v; want %v", head, err, all[4].Position)
	}
	filtered, err := collect(t, st.ReadAll(ctx, eventstore.Start(), eventstore.StreamPrefix("s-3")))
	if err != nil || len(filtered) != 1 || filtered[0].Stream != "s-3" {
		t.Fatalf("filtered ReadAll: %v, %v", filtered, err)
	}
}

func TestHeadOfEmptyLogIsStart(t *testing.T) {
	st, _ := openEmulated(t)
	head, err := st.Head(context.Background())
	if err != nil || head != eventstore.Start() {
		t.Fatalf("Head = %v, %v; want Start (only system events in the log)", head, err)
	}
}

func TestWrongExpectedRevisionCarriesActual(t *testing.T) {
	st, _ := openEmulated(t)
	ctx := context.Background()
	cases := []struct {
		name     string
		setup    int // events appended first
		expected eventstore.ExpectedRevision
		actual   eventstore.ExpectedRevision
	}{
		{"exact on missing stream", 0, eventstore.Exact(3), eventstore.NoStream()},
		{"stream exists on missing stream", 0, eventstore.StreamExists(), eventstore.NoStream()},
		{"no stream on existing", 2, eventstore.NoStream(), eventstore.Exact(1)},
		{"exact behind", 3, eventstore.Exact(0), eventstore.Exact(2)},
		{"exact ahead", 1, eventstore.Exact(7), eventstore.Exact(0)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := fmt.Sprintf("wev-%d", i)
			for j := range tc.setup {
				if _, err := st.Append(ctx, stream, eventstore.Any(), ev(fmt.Sprintf("T%d", j), `{}`)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := st.Append(ctx, stream, tc.expected, ev("X", `{}`))
			var wrong *eventstore.WrongExpectedRevisionError
			if !errors.As(err, &wrong) || !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
				t.Fatalf("err = %v, want *WrongExpectedRevisionError", err)
			}
			if wrong.Actual != tc.actual || wrong.Expected != tc.expected || wrong.Stream != stream {
				t.Fatalf("got %+v, want actual %v", wrong, tc.actual)
			}
		})
	}
}

func TestIdempotentRetryWritesNothing(t *testing.T) {
	st, srv := openEmulated(t)
	ctx := context.Background()
	a, b := ev("A", `{}`), ev("B", `{}`)
	first, err := st.Append(ctx, "idem-1", eventstore.NoStream(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, "idem-1", eventstore.Exact(1), ev("C", `{}`)); err != nil {
		t.Fatal(err)
	}
	again, err := st.Append(ctx, "idem-1", eventstore.NoStream(), a, b)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again != first {
		t.Fatalf("retry result %+v, want the original %+v", again, first)
	}
	if n := srv.StreamLen("idem-1"); n != 3 {
		t.Fatalf("stream has %d events after a retry, want 3", n)
	}
	// Same ids after a different revision: a conflict, not a retry.
	_, err = st.Append(ctx, "idem-1", eventstore.Exact(0), a)
	if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("partial match err = %v, want wrong expected revision", err)
	}
}

func TestLostAcknowledgementRetry(t *testing.T) {
	st, srv := openEmulated(t)
	ctx := context.Background()
	e := ev("Paid", `{"amount":10}`)
	srv.FailNextAppendAfterCommit()
	_, err := st.Append(ctx, "pay-1", eventstore.NoStream(), e)
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if srv.StreamLen("pay-1") != 1 {
		t.Fatal("the injected fault did not commit the append")
	}
	res, err := st.Append(ctx, "pay-1", eventstore.NoStream(), e)
	if err != nil {
		t.Fatalf("retry after lost ack: %v", err)
	}
	if res.Revision != 0 || srv.StreamLen("pay-1") != 1 {
		t.Fatalf("retry wrote: revision %d, %d events", res.Revision, srv.StreamLen("pay-1"))
	}
	srv.FailNextAppend()
	if _, err := st.Append(ctx, "pay-2", eventstore.NoStream(), ev("Paid", `{}`)); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if srv.StreamLen("pay-2") != 0 {
		t.Fatal("FailNextAppend wrote events")
	}
}

func TestOversizeAppendRefusedBeforeSending(t *testing.T) {
	st, srv := openEmulated(t)
	ctx := context.Background()
	// Within idem's count (type + data + metadata) but over the server's, which counts
	// the type twice: must still be refused here.
	typ := "Big"
	data := bytes.Repeat([]byte("x"), eventstore.DefaultMaxAppendSize-len(typ))
	_, err := st.Append(ctx, "big-1", eventstore.NoStream(), eventstore.EventData{ID: uuid.New(), Type: typ, Data: data})
	var tooLarge *eventstore.AppendTooLargeError
	if !errors.As(err, &tooLarge) || !errors.Is(err, eventstore.ErrAppendTooLarge) {
		t.Fatalf("err = %v, want *AppendTooLargeError", err)
	}
	if tooLarge.Limit != eventstore.DefaultMaxAppendSize {
		t.Fatalf("limit = %d", tooLarge.Limit)
	}
	if srv.Appends() != 0 || srv.StreamLen("big-1") != 0 {
		t.Fatal("oversize append reached the server")
	}
	// With a raised client limit the server's own refusal is mapped too; nothing written.
	big, err := esdb.Open(ctx, srv.URL(), esdb.WithLogger(quiet), esdb.WithMaxAppendSize(4<<20), esdb.WithServerMaxAppendSize(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	_, err = big.Append(ctx, "big-2", eventstore.NoStream(), ev("A", `{}`), eventstore.EventData{ID: uuid.New(), Type: "B", Data: data})
	if !errors.As(err, &tooLarge) || tooLarge.Limit != esdbtest.DefaultMaxAppendSize {
		t.Fatalf("server refusal err = %v", err)
	}
	if srv.StreamLen("big-2") != 0 {
		t.Fatal("half-written append")
	}
}

func TestReadMissingStream(t *testing.T) {
	st, _ := openEmulated(t)
	_, err := collect(t, st.ReadStream(context.Background(), "nope", 0))
	if !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("err = %v, want ErrStreamNotFound", err)
	}
}

func TestClosedStore(t *testing.T) {
	st, _ := openEmulated(t)
	_ = st.Close()
	_, err := st.Append(context.Background(), "x", eventstore.Any(), ev("T", `{}`))
	if !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

// subscribe runs SubscribeAll in a goroutine, sending what it yields on a channel.
func subscribe(ctx context.Context, st *esdb.Store, after eventstore.Position, opts ...eventstore.ReadOption) <-chan eventstore.Message {
	out := make(chan eventstore.Message, 256)
	go func() {
		defer close(out)
		for m, err := range st.SubscribeAll(ctx, after, opts...) {
			if err != nil {
				out <- eventstore.Message{Event: eventstore.RecordedEvent{Type: "ERROR: " + err.Error()}}
				return
			}
			out <- m
		}
	}()
	return out
}

func next(t *testing.T, ch <-chan eventstore.Message) eventstore.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription ended")
		}
		if strings.HasPrefix(m.Event.Type, "ERROR: ") {
			t.Fatal(m.Event.Type)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the subscription")
	}
	panic("unreachable")
}

func TestSubscribeResumesAfterDropWithoutGapOrRepeat(t *testing.T) {
	st, srv := openEmulated(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ids []uuid.UUID
	appendN := func(n int) {
		for range n {
			e := ev("T", `{}`)
			ids = append(ids, e.ID)
			if _, err := st.Append(ctx, "sub-"+e.ID.String()[:8], eventstore.NoStream(), e); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(3)
	ch := subscribe(ctx, st, eventstore.Start())
	var got []uuid.UUID
	for len(got) < 3 {
		got = append(got, next(t, ch).Event.ID)
	}
	if m := next(t, ch); !m.CaughtUp {
		t.Fatalf("want CaughtUp after the catch-up events, got %+v", m)
	}
	appendN(2)
	for len(got) < 5 {
		got = append(got, next(t, ch).Event.ID)
	}
	for round := range 3 {
		srv.DropSubscriptions()
		appendN(2) // written while the subscription is down or resubscribing
		for len(got) < 7+2*round {
			m := next(t, ch)
			if m.CaughtUp {
				t.Fatal("CaughtUp reported twice")
			}
			got = append(got, m.Event.ID)
		}
	}
	appendN(1)
	got = append(got, next(t, ch).Event.ID)
	if len(got) != len(ids) {
		t.Fatalf("got %d events, want %d", len(got), len(ids))
	}
	for i := range ids {
		if got[i] != ids[i] {
			t.Fatalf("event %d = %v, want %v (gap or repeat)", i, got[i], ids[i])
		}
	}
	select {
	case m := <-ch:
		t.Fatalf("unexpected extra message %+v", m)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestSubscribeFromPositionIsExclusiveAndFiltered(t *testing.T) {
	st, _ := openEmulated(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var positions []eventstore.Position
	for i := range 4 {
		res, err := st.Append(ctx, fmt.Sprintf("f%d-x", i%2), eventstore.Any(), ev(fmt.Sprintf("T%d", i%2), `{}`))
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, res.Position)
	}
	ch := subscribe(ctx, st, positions[0], eventstore.StreamPrefix("f1-"))
	if m := next(t, ch); m.Event.Position != positions[1] {
		t.Fatalf("first event at %v, want %v", m.Event.Position, positions[1])
	}
	if m := next(t, ch); m.Event.Position != positions[3] {
		t.Fatalf("second event at %v, want %v", m.Event.Position, positions[3])
	}
	if m := next(t, ch); !m.CaughtUp || m.Position != positions[3] {
		t.Fatalf("want CaughtUp at %v, got %+v", positions[3], m)
	}
	ch2 := subscribe(ctx, st, eventstore.Start(), eventstore.EventTypes("T0"))
	for _, want := range []eventstore.Position{positions[0], positions[2]} {
		if m := next(t, ch2); m.Event.Position != want || m.Event.Type != "T0" {
			t.Fatalf("type-filtered got %+v", m)
		}
	}
}

func TestSubscriptionEndsWithErrClosed(t *testing.T) {
	st, _ := openEmulated(t)
	ch := subscribe(context.Background(), st, eventstore.Start())
	if m := next(t, ch); !m.CaughtUp {
		t.Fatalf("got %+v", m)
	}
	_ = st.Close()
	select {
	case m := <-ch:
		if !strings.Contains(m.Event.Type, eventstore.ErrClosed.Error()) {
			t.Fatalf("got %+v, want ErrClosed", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not end on Close")
	}
}

func TestConcurrentAppendsOneWinner(t *testing.T) {
	st, _ := openEmulated(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Append(ctx, "race-1", eventstore.NoStream(), ev("T", `{}`))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, eventstore.ErrWrongExpectedRevision):
				conflicts++
			default:
				t.Errorf("append: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != 7 {
		t.Fatalf("%d wins, %d conflicts; want 1 and 7", wins, conflicts)
	}
}
