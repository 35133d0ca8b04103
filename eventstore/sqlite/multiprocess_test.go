package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// TestTwoHandlesOneFile opens the file twice, as two processes would, and races
// Exact appends to one stream through both: every failure is a typed conflict
// (never "database is locked" or a constraint error), the stream's revisions are
// contiguous, and a subscription on one handle sees the other's writes by polling.
func TestTwoHandlesOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	a, err := sqlite.Open(ctx, path, sqlite.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// A subscription on a, started before any write; all writes go through b.
	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	seen := make(chan eventstore.RecordedEvent, 1024)
	subErr := make(chan error, 1)
	go func() {
		defer close(seen)
		for m, err := range a.SubscribeAll(subCtx, eventstore.Start()) {
			if err != nil {
				subErr <- err
				return
			}
			if !m.CaughtUp {
				seen <- m.Event
			}
		}
	}()

	fromB := newEvent("FromB")
	if _, err := b.Append(ctx, "polled", eventstore.NoStream(), fromB); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-seen:
		if e.ID != fromB.ID {
			t.Fatalf("subscription on a got %s, want %s", e.ID, fromB.ID)
		}
	case err := <-subErr:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("subscription on a did not see b's append")
	}

	const goroutines, tries = 8, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	var failures []error
	for g := range goroutines {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range tries {
				expected := eventstore.NoStream()
				var last eventstore.RecordedEvent
				found := false
				for e, err := range s.ReadStream(ctx, "contended", eventstore.StreamEnd, eventstore.Backwards(), eventstore.Limit(1)) {
					if err == nil {
						last, found = e, true
					}
				}
				if found {
					expected = eventstore.Exact(last.Revision)
				}
				_, err := s.Append(ctx, "contended", expected, newEvent("Contended"))
				mu.Lock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, eventstore.ErrWrongExpectedRevision):
					var wrong *eventstore.WrongExpectedRevisionError
					if !errors.As(err, &wrong) {
						failures = append(failures, err)
					}
					conflicts++
				default:
					failures = append(failures, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range failures {
		t.Errorf("untyped failure: %v", err)
	}
	t.Logf("%d appends won, %d refused", wins, conflicts)
	ids := streamIDs(t, a, "contended")
	if len(ids) != wins {
		t.Fatalf("stream holds %d events, %d appends won", len(ids), wins)
	}
	var revs []uint64
	for e, err := range b.ReadStream(ctx, "contended", 0) {
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, e.Revision)
	}
	for i, r := range revs {
		if r != uint64(i) {
			t.Fatalf("revisions %v are not contiguous", revs)
		}
	}

	// Every one of b's appends reaches a's subscription, in order, once.
	for i := range wins {
		select {
		case e := <-seen:
			if e.Stream != "contended" || e.Revision != uint64(i) {
				t.Fatalf("subscription got %s@%d, want contended@%d", e.Stream, e.Revision, i)
			}
		case err := <-subErr:
			t.Fatal(err)
		case <-time.After(5 * time.Second):
			t.Fatalf("subscription stalled after %d of %d events", i, wins)
		}
	}
}

// TestBusyWriteLockIsUnavailable holds the write lock from another connection
// longer than the busy timeout: the append fails with a typed error matching
// ErrUnavailable, writes nothing, and the next append succeeds.
func TestBusyWriteLockIsUnavailable(t *testing.T) {
	s := openTemp(t, sqlite.WithBusyTimeout(50*time.Millisecond))
	ctx := context.Background()
	release := holdWriteLock(t, s.Path())
	_, err := s.Append(ctx, "blocked", eventstore.NoStream(), newEvent("Blocked"))
	release()
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	var se *sqlite.StorageError
	if !errors.As(err, &se) {
		t.Fatalf("got %T, want a *sqlite.StorageError", err)
	}
	if got := streamIDs(t, s, "blocked"); got != nil {
		t.Fatalf("the refused append wrote %v", got)
	}
	if _, err := s.Append(ctx, "blocked", eventstore.NoStream(), newEvent("Unblocked")); err != nil {
		t.Fatalf("append after the lock was released: %v", err)
	}
}

// TestCancelWhileWaitingForLock cancels an append whose batch is waiting for the
// write lock: it returns the context's error at once and is never written.
func TestCancelWhileWaitingForLock(t *testing.T) {
	s := openTemp(t)
	release := holdWriteLock(t, s.Path())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Append(ctx, "late", eventstore.NoStream(), newEvent("Late"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	release()
	// The writer is done with that batch once a later append is through.
	if _, err := s.Append(context.Background(), "after", eventstore.NoStream(), newEvent("After")); err != nil {
		t.Fatal(err)
	}
	if got := streamIDs(t, s, "late"); got != nil {
		t.Fatalf("the cancelled append wrote %v", got)
	}
}

// TestConcurrentOpensOfNewFile: eight handles open one new file at once, as
// processes starting together would; every Open succeeds. Open puts the file in
// WAL mode once it has checked it, and converting a new file meets the other
// openers' locks, which SQLite reports at once as busy instead of waiting.
func TestConcurrentOpensOfNewFile(t *testing.T) {
	for round := range 30 {
		path := filepath.Join(t.TempDir(), "events.db")
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				s, err := sqlite.Open(t.Context(), path)
				errs[i] = err
				if err == nil {
					s.Close()
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, open %d: %v", round, i, err)
			}
		}
	}
}
