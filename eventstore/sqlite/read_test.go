package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// TestReadsPageThroughLongStreams reads more events than one page holds, forwards,
// backwards, from the middle and with limits that cut a page: revisions come in
// order, without gap or repeat.
func TestReadsPageThroughLongStreams(t *testing.T) {
	s := openTemp(t, sqlite.WithSynchronous(sqlite.Normal))
	ctx := context.Background()
	const n = 1234
	var want []uuid.UUID
	expected := eventstore.NoStream()
	for len(want) < n {
		evs := make([]eventstore.EventData, min(100, n-len(want)))
		for i := range evs {
			evs[i] = newEvent("Long")
			want = append(want, evs[i].ID)
		}
		res, err := s.Append(ctx, "long", expected, evs...)
		if err != nil {
			t.Fatal(err)
		}
		expected = eventstore.Exact(res.Revision)
	}
	read := func(from uint64, opts ...eventstore.ReadOption) []uint64 {
		t.Helper()
		var revs []uint64
		for e, err := range s.ReadStream(ctx, "long", from, opts...) {
			if err != nil {
				t.Fatal(err)
			}
			if e.ID != want[e.Revision] {
				t.Fatalf("revision %d has id %s, want %s", e.Revision, e.ID, want[e.Revision])
			}
			revs = append(revs, e.Revision)
		}
		return revs
	}
	check := func(name string, got []uint64, first uint64, count int, step int) {
		t.Helper()
		if len(got) != count {
			t.Fatalf("%s: %d events, want %d", name, len(got), count)
		}
		for i, r := range got {
			if want := int64(first) + int64(i*step); int64(r) != want {
				t.Fatalf("%s: event %d has revision %d, want %d", name, i, r, want)
			}
		}
	}
	check("forward", read(0), 0, n, 1)
	check("from 600", read(600), 600, n-600, 1)
	check("limit 700", read(10, eventstore.Limit(700)), 10, 700, 1)
	check("backwards", read(eventstore.StreamEnd, eventstore.Backwards()), n-1, n, -1)
	check("backwards from 900 limit 501", read(900, eventstore.Backwards(), eventstore.Limit(501)), 900, 501, -1)
	check("past the end", read(n+5), 0, 0, 1)
}

// TestReadAllFiltersAcrossPages: matching events are sparse among many pages of
// others, and a filter is a prefix in byte order.
func TestReadAllFiltersAcrossPages(t *testing.T) {
	s := openTemp(t, sqlite.WithSynchronous(sqlite.Normal))
	ctx := context.Background()
	var want []uuid.UUID
	for i := range 1500 {
		stream, typ := fmt.Sprintf("noise-%d", i%7), "Noise"
		if i%250 == 0 {
			stream, typ = fmt.Sprintf("order-%d", i), "Placed"
		}
		e := newEvent(typ)
		if _, err := s.Append(ctx, stream, eventstore.Any(), e); err != nil {
			t.Fatal(err)
		}
		if typ == "Placed" {
			want = append(want, e.ID)
		}
	}
	// Streams whose names sort right after the prefix must not match.
	if _, err := s.Append(ctx, "orderz", eventstore.Any(), newEvent("Placed")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "order", eventstore.Any(), newEvent("Placed")); err != nil {
		t.Fatal(err)
	}
	collect := func(opts ...eventstore.ReadOption) []uuid.UUID {
		var got []uuid.UUID
		for e, err := range s.ReadAll(ctx, eventstore.Start(), opts...) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.ID)
		}
		return got
	}
	for name, opts := range map[string][]eventstore.ReadOption{
		"prefix":          {eventstore.StreamPrefix("order-")},
		"type":            {eventstore.EventTypes("Placed"), eventstore.StreamPrefix("order-", "nothing-")},
		"prefix, limit 3": {eventstore.StreamPrefix("order-"), eventstore.Limit(3)},
	} {
		got := collect(opts...)
		w := want
		if strings.Contains(name, "limit") {
			w = want[:3]
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Fatalf("%s: got %d events %v, want %d %v", name, len(got), got, len(w), w)
		}
	}
	if got := collect(eventstore.StreamPrefix("")); len(got) != 1502 {
		t.Fatalf("empty prefix: %d events, want all 1502", len(got))
	}
}

// TestRoundTrip: data and metadata come back byte for byte, nil as nil and empty as
// empty; RecordedAt comes from the clock option, in UTC.
func TestRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 891011, time.FixedZone("X", 3600))
	s := openTemp(t, sqlite.WithClock(func() time.Time { return at }))
	ctx := context.Background()
	in := []eventstore.EventData{
		{ID: uuid.New(), Type: "Nil"},
		{ID: uuid.New(), Type: "Empty", Data: []byte{}, Metadata: []byte{}},
		{ID: uuid.New(), Type: "Bytes", Data: []byte{0, 1, 2, 255}, Metadata: []byte("ünïcode")},
	}
	if _, err := s.Append(ctx, "trip", eventstore.NoStream(), in...); err != nil {
		t.Fatal(err)
	}
	i := 0
	for e, err := range s.ReadStream(ctx, "trip", 0) {
		if err != nil {
			t.Fatal(err)
		}
		w := in[i]
		if e.ID != w.ID || e.Type != w.Type || (e.Data == nil) != (w.Data == nil) || string(e.Data) != string(w.Data) ||
			(e.Metadata == nil) != (w.Metadata == nil) || string(e.Metadata) != string(w.Metadata) {
			t.Fatalf("event %d: got %+v, want %+v", i, e, w)
		}
		if !e.RecordedAt.Equal(at) || e.RecordedAt.Location() != time.UTC {
			t.Fatalf("RecordedAt %v, want %v in UTC", e.RecordedAt, at)
		}
		i++
	}
	if i != len(in) {
		t.Fatalf("read %d events", i)
	}
}

// TestCorruptRowIsReported damages a stored event: reads and subscriptions fail with
// an error matching eventstore.ErrCorrupt that names its position, and an append
// whose retry check meets it fails the same way.
func TestCorruptRowIsReported(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	e := newEvent("Fine")
	res, err := s.Append(ctx, "damaged", eventstore.NoStream(), e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "damaged", eventstore.Exact(0), newEvent("Fine")); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, s.Path())
	if _, err := db.Exec("UPDATE events SET id = x'0102' WHERE position = ?", res.Position.Commit); err != nil {
		t.Fatal(err)
	}
	wantCorrupt := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("position %d", res.Position.Commit)) {
			t.Fatalf("%s: got %v, want ErrCorrupt naming position %d", what, err, res.Position.Commit)
		}
	}
	var readErr error
	for _, err := range s.ReadStream(ctx, "damaged", 0) {
		readErr = err
		if err != nil {
			break
		}
	}
	wantCorrupt("ReadStream", readErr)
	readErr = nil
	for _, err := range s.ReadAll(ctx, eventstore.Start()) {
		readErr = err
		if err != nil {
			break
		}
	}
	wantCorrupt("ReadAll", readErr)
	readErr = nil
	for _, err := range s.SubscribeAll(ctx, eventstore.Start()) {
		readErr = err
		if err != nil {
			break
		}
	}
	wantCorrupt("SubscribeAll", readErr)
	_, err = s.Append(ctx, "damaged", eventstore.NoStream(), e) // a retry: must compare ids
	wantCorrupt("Append retry check", err)
}

// TestSubscriptionEndsOnClose: a live subscription ends with ErrClosed when the
// store closes, and reads after Close fail with ErrClosed.
func TestSubscriptionEndsOnClose(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	ended := make(chan error, 1)
	live := make(chan struct{})
	go func() {
		for m, err := range s.SubscribeAll(ctx, eventstore.Start()) {
			if m.CaughtUp {
				close(live)
			}
			if err != nil {
				ended <- err
				return
			}
		}
		ended <- nil
	}()
	<-live
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("subscription ended with %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription did not end on Close")
	}
	if _, err := s.Head(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Head after Close: %v", err)
	}
	if _, err := s.Append(ctx, "x", eventstore.Any(), newEvent("Late")); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
}

// TestLargeFilters: a filter of more event types, or stream prefixes, than SQLite
// takes variables in one statement (32,766) failed every ReadAll and SubscribeAll
// with "too many SQL variables", reported as ErrUnavailable. A filter of any size
// works.
func TestLargeFilters(t *testing.T) {
	s := openTemp(t, sqlite.WithSynchronous(sqlite.Normal))
	ctx := t.Context()
	var want []uuid.UUID
	for i := range 20 {
		stream, typ := fmt.Sprintf("noise-%d", i), "Noise"
		if i%5 == 0 {
			stream, typ = fmt.Sprintf("order-%d", i), "Placed"
		}
		e := newEvent(typ)
		if _, err := s.Append(ctx, stream, eventstore.Any(), e); err != nil {
			t.Fatal(err)
		}
		if typ == "Placed" {
			want = append(want, e.ID)
		}
	}
	types := []string{"Placed"}
	prefixes := []string{"order-"}
	for i := range 40_000 {
		types = append(types, fmt.Sprintf("Other%d", i))
		prefixes = append(prefixes, fmt.Sprintf("other-%d-", i))
	}
	for name, opt := range map[string]eventstore.ReadOption{
		"40,001 event types":     eventstore.EventTypes(types...),
		"40,001 stream prefixes": eventstore.StreamPrefix(prefixes...),
	} {
		var got []uuid.UUID
		for e, err := range s.ReadAll(ctx, eventstore.Start(), opt) {
			if err != nil {
				t.Fatalf("ReadAll, %s: %v", name, err)
			}
			got = append(got, e.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("ReadAll, %s: got %v, want %v", name, got, want)
		}
		got = nil
		for m, err := range s.SubscribeAll(ctx, eventstore.Start(), opt) {
			if err != nil {
				t.Fatalf("SubscribeAll, %s: %v", name, err)
			}
			if m.CaughtUp {
				break
			}
			got = append(got, m.Event.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("SubscribeAll, %s: got %v, want %v", name, got, want)
		}
	}
}

// TestTypeFilterMatchesExactBytes: a type filter matches types byte for byte,
// a NUL byte, escapes and non-ASCII characters included.
func TestTypeFilterMatchesExactBytes(t *testing.T) {
	s := openTemp(t, sqlite.WithSynchronous(sqlite.Normal))
	ctx := t.Context()
	types := []string{"A\x00B", "A", "é", `<&>"\`, "e\u0301"}
	for _, typ := range types {
		if _, err := s.Append(ctx, "typed", eventstore.Any(), newEvent(typ)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for e, err := range s.ReadAll(ctx, eventstore.Start(), eventstore.EventTypes("A\x00B", `<&>"\`, "é")) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Type)
	}
	if want := []string{"A\x00B", "é", `<&>"\`}; fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestSparseLogIsReadQuickly: positions are dense, but a row far ahead (written
// behind the store's back, or left by deletions) made reads of the log walk the
// empty stretch 32,000 positions per query: a read or a subscription that never
// ended. Empty stretches now cost one lookup, with or without a filter.
func TestSparseLogIsReadQuickly(t *testing.T) {
	s := openBounded(t)
	ctx := t.Context()
	if _, err := s.Append(ctx, "near", eventstore.NoStream(), newEvent("Placed")); err != nil {
		t.Fatal(err)
	}
	writeRawRow(t, s.Path(), validRow("far", 0).with("position", int64(1)<<40).with("type", "Placed"))
	if _, err := s.Append(ctx, "after", eventstore.NoStream(), newEvent("Placed")); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]eventstore.ReadOption{
		"no filter":   nil,
		"type filter": {eventstore.EventTypes("Placed")},
	} {
		got := within(t, 5*time.Second, "ReadAll, "+name, func() readResult {
			return readAll(s.ReadAll(ctx, eventstore.Start(), opts...))
		})
		if got.err != nil || len(got.evs) != 3 {
			t.Fatalf("ReadAll, %s: %d events, %v; want 3", name, len(got.evs), got.err)
		}
		n := within(t, 5*time.Second, "SubscribeAll, "+name, func() int {
			n := 0
			for m, err := range s.SubscribeAll(ctx, eventstore.Start(), opts...) {
				if err != nil || m.CaughtUp {
					break
				}
				n++
			}
			return n
		})
		if n != 3 {
			t.Fatalf("SubscribeAll, %s: %d events before catching up, want 3", name, n)
		}
	}
}

// TestSubscriptionCatchesUpThenGoesLive: on a log of several pages, a subscription
// from the start delivers every event once, in position order, then exactly one
// CaughtUp carrying the last event's position, then an event appended afterwards;
// and one that starts from the last position goes straight to CaughtUp.
func TestSubscriptionCatchesUpThenGoesLive(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.WithSynchronous(sqlite.Normal))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 1234 // more than two pages
	var last eventstore.AppendResult
	for i := 0; i < n; i += 100 {
		evs := make([]eventstore.EventData, min(100, n-i))
		for j := range evs {
			evs[j] = newEvent("Written")
		}
		if last, err = s.Append(ctx, fmt.Sprintf("s-%d", i%7), eventstore.Any(), evs...); err != nil {
			t.Fatal(err)
		}
	}
	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	next, done := iter.Pull2(s.SubscribeAll(subCtx, eventstore.Start()))
	defer done()
	var prev eventstore.Position
	for i := range n {
		m, err, ok := next()
		if !ok || err != nil || m.CaughtUp {
			t.Fatalf("message %d: %+v, %v, %v; want event %d", i, m, err, ok, i+1)
		}
		if !prev.Less(m.Position) {
			t.Fatalf("message %d at %s after %s", i, m.Position, prev)
		}
		prev = m.Position
	}
	m, err, ok := next()
	if !ok || err != nil || !m.CaughtUp || m.Position != last.Position {
		t.Fatalf("after %d events: %+v, %v; want CaughtUp at %s", n, m, err, last.Position)
	}
	live := newEvent("Live")
	if _, err := s.Append(ctx, "live", eventstore.NoStream(), live); err != nil {
		t.Fatal(err)
	}
	m, err, ok = next()
	if !ok || err != nil || m.CaughtUp || m.Event.ID != live.ID {
		t.Fatalf("live: %+v, %v; want the event appended after CaughtUp", m, err)
	}

	from, doneFrom := iter.Pull2(s.SubscribeAll(subCtx, last.Position))
	defer doneFrom()
	m, err, _ = from()
	if err != nil || m.CaughtUp {
		t.Fatalf("from the last position: %+v, %v; want the live event first", m, err)
	}
	m, err, _ = from()
	if err != nil || !m.CaughtUp {
		t.Fatalf("from the last position: %+v, %v; want CaughtUp", m, err)
	}
}
