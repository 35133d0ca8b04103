package projection_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// mailbox is a downstream system that records each call by idempotency key.
type mailbox struct {
	mu    sync.Mutex
	calls map[string]int
	modes map[projection.Mode]int
}

func (m *mailbox) reactor(name string) projection.Reactor {
	return projection.Reactor{Name: name, Handle: func(_ context.Context, e projection.ReactorEvent) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if e.IdempotencyKey != e.ID.String() {
			return errors.New("idempotency key is not the event id")
		}
		m.calls[e.IdempotencyKey]++
		m.modes[e.Mode]++
		return nil
	}}
}

func (m *mailbox) check(t *testing.T, want int) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.calls) != want {
		t.Fatalf("reactor ran for %d events, want %d", len(m.calls), want)
	}
	for k, n := range m.calls {
		if n != 1 {
			t.Fatalf("reactor ran %d times for event %s", n, k)
		}
	}
}

// A reactor runs once per event live, with the event id as idempotency key, and
// not at all during a rebuild of a projection, by a deploy of new code or by a
// Rebuild call (G10).
func TestProjectionReactorNotRunDuringRebuild(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	mb := &mailbox{calls: map[string]int{}, modes: map[projection.Mode]int{}}
	r := newRunner(t, store, tg, nil, ledger(1))
	if err := r.AddReactor(mb.reactor("mailer")); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	waitFor(t, "reactor live", func() bool { return statsOf(r, "mailer").Mode == projection.Live })
	workload(t, ctx, store, 11, 200, 10)
	h := head(t, store)
	waitFor(t, "reactor checkpoint", func() bool { return statsOf(r, "mailer").Checkpoint == h })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mb.check(t, 200)
	if mb.modes[projection.Live] != 200 {
		t.Fatalf("modes %v, want 200 live", mb.modes)
	}

	// A new deployment rebuilds the projection (version 2) with the same reactor:
	// the rebuild replays 200 events into generation 2; the reactor sends nothing
	// again.
	var rebuildModes sync.Map
	v2 := ledger(2)
	inner := v2.Handle
	v2.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		rebuildModes.Store(e.Mode, true)
		return inner(ctx, tx, e)
	}
	r2 := newRunner(t, store, tg, nil, v2)
	if err := r2.AddReactor(mb.reactor("mailer")); err != nil {
		t.Fatal(err)
	}
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if st := statsOf(r2, "ledger"); st.Applied != 200 || st.Generation != 2 {
		t.Fatalf("rebuild stats %+v", st)
	}
	if _, ok := rebuildModes.Load(projection.Rebuild); !ok {
		t.Fatal("v2 was not built in Rebuild mode")
	}
	mb.check(t, 200)
	if st := statsOf(r2, "mailer"); st.Applied != 0 {
		t.Fatalf("reactor stats during rebuild %+v", st)
	}
	// An operator's rebuild, no code change: the reactor is not run either.
	if err := r2.Rebuild(ctx, "ledger"); err != nil {
		t.Fatal(err)
	}
	mb.check(t, 200)

	// Live again: each new event once.
	for range 10 {
		if _, err := store.Append(ctx, "acct-x", eventstore.Any(), amountEvent(uuid.New(), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	mb.check(t, 210)
}

// A reactor with NewOnly starts at the head: history causes no side effects.
func TestProjectionReactorNewOnly(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	workload(t, ctx, store, 12, 50, 5)
	mb := &mailbox{calls: map[string]int{}, modes: map[projection.Mode]int{}}
	re := mb.reactor("welcome")
	re.NewOnly = true
	r := newRunner(t, store, tg, nil)
	if err := r.AddReactor(re); err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	mb.check(t, 0)
	workload(t, ctx, store, 13, 5, 5)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	mb.check(t, 5)
}

// The reactor's cache of per-stream guards stays bounded, however many streams it
// sees; the guards themselves are in the target.
func TestReactorGuardCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	n := projection.MaxGuardCache + 100
	evs := make([]eventstore.EventData, 1)
	for i := range n {
		evs[0] = amountEvent(uuid.New(), 1)
		if _, err := store.Append(ctx, fmt.Sprintf("s-%05d", i), eventstore.NoStream(), evs...); err != nil {
			t.Fatal(err)
		}
	}
	mb := &mailbox{calls: map[string]int{}, modes: map[projection.Mode]int{}}
	r := newRunner(t, store, tg, nil)
	if err := r.AddReactor(mb.reactor("mailer")); err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	mb.check(t, n)
	if got := projection.GuardCacheLen(r, "mailer"); got > projection.MaxGuardCache {
		t.Fatalf("guard cache holds %d streams, bound %d", got, projection.MaxGuardCache)
	}
}
