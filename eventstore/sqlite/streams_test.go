package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// TestStreamsPagesThroughManyStreams: a listing longer than a page yields every
// stream once, in order, across pages, with and without a prefix.
func TestStreamsPagesThroughManyStreams(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.WithSynchronous(sqlite.Normal))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 1203
	for i := range n {
		stream := fmt.Sprintf("order-%04d", i)
		if i%3 == 0 {
			stream = fmt.Sprintf("payment-%04d", i)
		}
		evs := []eventstore.EventData{newEvent("E")}
		if i%2 == 0 {
			evs = append(evs, newEvent("E"))
		}
		if _, err := s.Append(ctx, stream, eventstore.NoStream(), evs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		prefix string
		want   int
	}{{"", n}, {"order-", n - (n+2)/3}, {"payment-", (n + 2) / 3}} {
		count, last, events := 0, "", uint64(0)
		for info, err := range s.Streams(ctx, eventstore.StreamFilter{Prefix: c.prefix}) {
			if err != nil {
				t.Fatal(err)
			}
			if info.Name <= last {
				t.Fatalf("%q listed after %q", info.Name, last)
			}
			last = info.Name
			count++
			events += info.Events
		}
		if count != c.want {
			t.Errorf("prefix %q: %d streams, want %d", c.prefix, count, c.want)
		}
		if c.prefix == "" && events != n+(n+1)/2 {
			t.Errorf("%d events listed, want %d", events, n+(n+1)/2)
		}
	}
}

// TestStreamsReportsCorruptRows: a stream whose last row holds a revision this
// package never writes fails the listing with a *CorruptEventError naming it.
func TestStreamsReportsCorruptRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, stream := range []string{"a-1", "b-1"} {
		if _, err := s.Append(ctx, stream, eventstore.NoStream(), newEvent("E")); err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, path)
	if _, err := db.Exec(`UPDATE events SET recorded_at = 'yesterday' WHERE stream = 'b-1'`); err != nil {
		t.Fatal(err)
	}
	var got error
	names := 0
	for _, err := range s.Streams(ctx, eventstore.StreamFilter{}) {
		if err != nil {
			got = err
			break
		}
		names++
	}
	var corrupt *sqlite.CorruptEventError
	if !errors.As(got, &corrupt) || corrupt.Stream != "b-1" || !errors.Is(got, eventstore.ErrCorrupt) {
		t.Fatalf("got %v, want a *CorruptEventError for b-1", got)
	}
	if names != 0 {
		t.Fatalf("%d streams yielded before the error: a page is checked whole before it is yielded", names)
	}
}
