package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// TestGroupCommitChecksEachAppend puts 64 appends to distinct streams and a handful
// of conflicting appends to one stream into one batch (the writer is held at BEGIN
// by another connection while they queue up, in a known order): every append is
// judged on its own, against the batch's earlier effects, and a refused or cancelled
// append leaves its neighbours untouched.
func TestGroupCommitChecksEachAppend(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	release := holdWriteLock(t, s.Path())

	// The primer is taken by the writer, which then waits for the lock; everything
	// after it queues up and becomes the next batch.
	primer := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "primer", eventstore.NoStream(), newEvent("Primed"))
		primer <- err
	}()
	waitFor(t, 5*time.Second, "the writer to take the primer", func() bool { return sqlite.QueueLen(s) == 0 })
	time.Sleep(20 * time.Millisecond) // let the writer reach BEGIN

	const distinct = 64
	var distinctAppends []*enqueued
	var distinctEvents []eventstore.EventData
	for i := range distinct {
		ev := newEvent("Opened")
		distinctEvents = append(distinctEvents, ev)
		distinctAppends = append(distinctAppends, enqueue(t, ctx, s, fmt.Sprintf("account-%d", i), eventstore.NoStream(), ev))
	}
	a, b, c := newEvent("A"), newEvent("B"), newEvent("C")
	first := enqueue(t, ctx, s, "hot", eventstore.NoStream(), a)
	conflict := enqueue(t, ctx, s, "hot", eventstore.NoStream(), b)        // sees first: refused
	follow := enqueue(t, ctx, s, "hot", eventstore.Exact(0), c)            // sees first: accepted
	retry := enqueue(t, ctx, s, "hot", eventstore.NoStream(), a)           // a retry of first (G2)
	stale := enqueue(t, ctx, s, "hot", eventstore.Exact(5), newEvent("D")) // refused
	cancelCtx, cancel := context.WithCancel(ctx)
	cancelled := enqueue(t, cancelCtx, s, "cancelled", eventstore.NoStream(), newEvent("E"))
	cancel()
	if _, err := cancelled.wait(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled append: got %v, want context.Canceled", err)
	}

	_, _, before := sqlite.BatchStats(s)
	release()
	if err := <-primer; err != nil {
		t.Fatalf("primer: %v", err)
	}

	for i, q := range distinctAppends {
		res, err := q.wait(t)
		if err != nil || res.Revision != 0 {
			t.Fatalf("account-%d: got %+v, %v; want revision 0", i, res, err)
		}
	}
	firstRes, err := first.wait(t)
	if err != nil || firstRes.Revision != 0 {
		t.Fatalf("first: %+v, %v", firstRes, err)
	}
	var wrong *eventstore.WrongExpectedRevisionError
	if _, err := conflict.wait(t); !errors.As(err, &wrong) || wrong.Actual != eventstore.Exact(0) {
		t.Fatalf("conflict: got %v, want WrongExpectedRevisionError with actual revision 0", err)
	}
	if res, err := follow.wait(t); err != nil || res.Revision != 1 {
		t.Fatalf("follow: %+v, %v; want revision 1", res, err)
	}
	if res, err := retry.wait(t); err != nil || res.Revision != firstRes.Revision || res.Position != firstRes.Position || res.Outcome != eventstore.Replayed {
		t.Fatalf("retry: %+v, %v; want the first append's result %+v, replayed", res, err, firstRes)
	}
	if _, err := stale.wait(t); !errors.As(err, &wrong) || wrong.Actual != eventstore.Exact(1) {
		t.Fatalf("stale: got %v, want WrongExpectedRevisionError with actual revision 1", err)
	}

	batches, appends, largest := sqlite.BatchStats(s)
	t.Logf("batches %d, appends %d, largest batch %d", batches, appends, largest)
	if want := int64(distinct + 5); largest < want || before >= want {
		t.Fatalf("largest batch %d (before: %d), want the %d queued appends in one batch", largest, before, want)
	}
	for i, ev := range distinctEvents {
		if got := streamIDs(t, s, fmt.Sprintf("account-%d", i)); len(got) != 1 || got[0] != ev.ID {
			t.Fatalf("account-%d holds %v, want [%s]", i, got, ev.ID)
		}
	}
	if got := streamIDs(t, s, "hot"); len(got) != 2 || got[0] != a.ID || got[1] != c.ID {
		t.Fatalf("hot holds %v, want [%s %s]", got, a.ID, c.ID)
	}
	if got := streamIDs(t, s, "cancelled"); got != nil {
		t.Fatalf("the cancelled append wrote %v", got)
	}
}

// TestGroupCommitFailedCommitFailsWholeBatch makes the commit of a batch fail:
// every append of that batch fails with the error and nothing of it is written;
// the store goes on working afterwards.
func TestGroupCommitFailedCommitFailsWholeBatch(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	release := holdWriteLock(t, s.Path())
	primer := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "primer", eventstore.NoStream(), newEvent("Primed"))
		primer <- err
	}()
	waitFor(t, 5*time.Second, "the writer to take the primer", func() bool { return sqlite.QueueLen(s) == 0 })
	time.Sleep(20 * time.Millisecond)

	var queued []*enqueued
	for i := range 10 {
		queued = append(queued, enqueue(t, ctx, s, fmt.Sprintf("doomed-%d", i), eventstore.NoStream(), newEvent("Doomed")))
	}
	injected := errors.New("injected commit failure")
	var calls int
	sqlite.SetCommitHook(s, func() error {
		calls++
		if calls == 1 {
			return nil // the primer's batch
		}
		return injected
	})
	release()
	if err := <-primer; err != nil {
		t.Fatalf("primer: %v", err)
	}
	for i, q := range queued {
		_, err := q.wait(t)
		if !errors.Is(err, injected) {
			t.Fatalf("doomed-%d: got %v, want the commit's error", i, err)
		}
	}
	sqlite.SetCommitHook(s, nil)
	for i := range 10 {
		if got := streamIDs(t, s, fmt.Sprintf("doomed-%d", i)); got != nil {
			t.Fatalf("doomed-%d holds %v after a failed commit", i, got)
		}
	}
	if _, err := s.Append(ctx, "doomed-0", eventstore.NoStream(), newEvent("Retried")); err != nil {
		t.Fatalf("append after a failed commit: %v", err)
	}
}

// TestGroupCommitBatchesUnderConcurrency checks that concurrent appends do share
// transactions (batches larger than one happen) and that each caller gets its own
// result.
func TestGroupCommitBatchesUnderConcurrency(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	const writers, each = 32, 10
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			stream := fmt.Sprintf("writer-%d", w)
			for i := range each {
				expected := eventstore.Exact(uint64(i - 1))
				if i == 0 {
					expected = eventstore.NoStream()
				}
				res, err := s.Append(ctx, stream, expected, newEvent("Wrote"))
				if err == nil && res.Revision != uint64(i) {
					err = fmt.Errorf("%s: revision %d, want %d", stream, res.Revision, i)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	batches, appends, largest := sqlite.BatchStats(s)
	t.Logf("%d appends in %d batches, largest %d", appends, batches, largest)
	if appends != writers*each {
		t.Fatalf("%d appends counted, want %d", appends, writers*each)
	}
	if largest < 2 || batches >= appends {
		t.Fatalf("no batch held more than one append (batches %d, largest %d)", batches, largest)
	}
}

// TestLeaderGivesUpWhileWaitingForLock: the append leading a batch waits for a
// write lock held by another connection and its context ends. It fails with its
// context's error and writes nothing; the appends queued behind it are not lost
// but run under a new leader once the lock is free.
func TestLeaderGivesUpWhileWaitingForLock(t *testing.T) {
	s := openTemp(t)
	release := holdWriteLock(t, s.Path())
	leaderCtx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := s.Append(leaderCtx, "leader", eventstore.NoStream(), newEvent("Led"))
		leader <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it lead and wait for the lock
	var queued []*enqueued
	for i := range 3 {
		queued = append(queued, enqueue(t, context.Background(), s, fmt.Sprintf("follower-%d", i), eventstore.NoStream(), newEvent("Followed")))
	}
	cancel()
	select {
	case err := <-leader:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("leader: got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the leader did not give up while waiting for the lock")
	}
	release()
	for i, q := range queued {
		if res, err := q.wait(t); err != nil || res.Revision != 0 {
			t.Fatalf("follower-%d: %+v, %v; want revision 0", i, res, err)
		}
	}
	if got := streamIDs(t, s, "leader"); got != nil {
		t.Fatalf("the abandoned leader wrote %v", got)
	}
}

// TestCloseWaitsForRunningBatch closes the store while a batch waits for the
// write lock and another append is queued behind it: Close returns only after
// both are committed, and both are acknowledged.
func TestCloseWaitsForRunningBatch(t *testing.T) {
	path := openTemp(t).Path()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	release := holdWriteLock(t, path)
	lead := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "running", eventstore.NoStream(), newEvent("Running"))
		lead <- err
	}()
	time.Sleep(20 * time.Millisecond)
	queued := enqueue(t, context.Background(), s, "queued", eventstore.NoStream(), newEvent("Queued"))
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a batch was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-lead; err != nil {
		t.Fatalf("running append: %v", err)
	}
	if _, err := queued.wait(t); err != nil {
		t.Fatalf("queued append: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := s.Append(context.Background(), "late", eventstore.NoStream(), newEvent("Late")); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append after close: got %v, want ErrClosed", err)
	}
	s2, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, stream := range []string{"running", "queued"} {
		if got := streamIDs(t, s2, stream); len(got) != 1 {
			t.Fatalf("%s holds %v after close, want its event", stream, got)
		}
	}
}
