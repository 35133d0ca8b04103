package projection_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

func TestProjectionCatchUpThenLive(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	want := workload(t, ctx, store, 1, 500, 20)
	r := newRunner(t, store, tg, opts(projection.WithBatchSize(64)), ledger(1))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, db, want)
	st := statsOf(r, "ledger")
	if st.Applied != 500 || st.Skipped != 0 || st.Checkpoint != head(t, store) || st.Lag != 0 || st.Generation != 1 || st.State != projection.Idle {
		t.Fatalf("stats after catch-up: %+v", st)
	}

	// Live: run in the background, append more, wait for the checkpoint.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	more := workload(t, ctx, store, 2, 300, 20)
	for s, w := range more {
		want[s] = [2]int64{want[s][0] + w[0], want[s][1] + w[1]}
	}
	h := head(t, store)
	// The checkpoint can reach the head while still catching up: the switch to
	// live comes when the next read finds nothing more.
	waitFor(t, "live checkpoint", func() bool {
		st := statsOf(r, "ledger")
		return st.Checkpoint == h && st.Mode == projection.Live
	})
	if st := statsOf(r, "ledger"); st.State != projection.Running {
		t.Fatalf("stats while live: %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	checkExactlyOnce(t, db, want)
	if st := statsOf(r, "ledger"); st.Mode != projection.Live || st.Applied != 800 {
		t.Fatalf("stats after live: %+v", st)
	}
}

// A handler error rolls back its batch; the events before it commit, it is retried,
// and in the end every event is applied exactly once (a fault between apply and
// commit, in process).
func TestProjectionHandlerFaultRollsBackAndRetries(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	want := workload(t, ctx, store, 3, 400, 10)
	p := ledger(1)
	inner := p.Handle
	calls := 0
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		calls++
		if err := inner(ctx, tx, e); err != nil {
			return err
		}
		if calls == 100 || calls == 250 { // after the writes, before the commit
			return errors.New("injected fault after apply")
		}
		return nil
	}
	r := newRunner(t, store, tg, opts(projection.WithCatchUpBatchSize(64)), p)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, tg.DB(), want)
	if st := statsOf(r, "ledger"); st.Retries != 2 || st.Applied != 400 {
		t.Fatalf("stats: %+v, want 2 retries and 400 applied", st)
	}
}

func TestProjectionValidation(t *testing.T) {
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	r := newRunner(t, store, tg, nil)
	bad := []projection.Projection[Tx]{
		{},
		func() projection.Projection[Tx] { p := ledger(0); return p }(),
		func() projection.Projection[Tx] { p := ledger(1); p.Tables = []string{"bad name"}; return p }(),
		func() projection.Projection[Tx] { p := ledger(1); p.Tables = []string{"idem_x"}; return p }(),
		func() projection.Projection[Tx] { p := ledger(1); p.Tables = []string{"a", "A"}; return p }(),
		func() projection.Projection[Tx] { p := ledger(1); p.Handle = nil; return p }(),
		func() projection.Projection[Tx] { p := ledger(1); p.Setup = nil; return p }(),
		func() projection.Projection[Tx] { p := ledger(1); p.Poison = 9; return p }(),
	}
	for i, p := range bad {
		if err := r.Add(p); !errors.Is(err, projection.ErrInvalidProjection) {
			t.Errorf("case %d: Add = %v, want ErrInvalidProjection", i, err)
		}
	}
	if err := r.Add(ledger(1)); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(ledger(2)); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("same name twice: %v", err)
	}
	if err := r.AddReactor(projection.Reactor{Name: "ledger", Handle: func(context.Context, projection.ReactorEvent) error { return nil }}); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("reactor with a projection's name: %v", err)
	}
	// Setup that forgets a declared table.
	p := ledger(1)
	p.Name = "forgetful"
	p.Setup = func(ctx context.Context, tx Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE {balances} (stream TEXT)`)
		return err
	}
	r2 := newRunner(t, store, tg, nil, p)
	if err := r2.CatchUp(context.Background()); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("setup without a declared table: %v", err)
	}
	// A reactor whose name a projection holds in the target.
	r3 := newRunner(t, store, tg, nil)
	if err := r3.AddReactor(projection.Reactor{Name: "forgetful", Handle: func(context.Context, projection.ReactorEvent) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if err := r3.CatchUp(context.Background()); err != nil {
		t.Fatalf("reactor named like a projection that was never created: %v", err)
	}
	r4 := newRunner(t, store, tg, nil, func() projection.Projection[Tx] { p := ledger(1); p.Name = "forgetful"; return p }())
	if err := r4.CatchUp(context.Background()); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("projection named like a reactor in the target: %v", err)
	}
}

// Every option refuses a value out of its range, with ErrInvalidOption from
// NewRunner: no value of an option means something special.
func TestOptionsOutOfRange(t *testing.T) {
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	for _, o := range []projection.Option{
		projection.WithBatchSize(0), projection.WithCatchUpBatchSize(-1), projection.WithRetries(-1),
		projection.WithBackoff(0, time.Second), projection.WithBackoff(time.Second, time.Millisecond),
		projection.WithLogger(nil), projection.WithProgress(nil), projection.WithProgressInterval(0),
		projection.WithLagInterval(-time.Second), projection.WithLagLimit(0),
	} {
		if _, err := projection.NewRunner(store, tg, o); !errors.Is(err, projection.ErrInvalidOption) {
			t.Errorf("NewRunner = %v, want ErrInvalidOption", err)
		}
	}
	if _, err := projection.NewRunner(store, tg, projection.WithRetries(0), projection.WithoutLagRefresh()); err != nil {
		t.Errorf("WithRetries(0): %v", err)
	}
	r := newRunner(t, store, tg, nil, ledger(1))
	if err := r.Rebuild(context.Background(), "ledger", projection.WithRebuildProgress(nil)); !errors.Is(err, projection.ErrInvalidOption) {
		t.Errorf("Rebuild = %v, want ErrInvalidOption", err)
	}
}

func TestProjectionFiltersAndSeveralAtOnce(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	for i := range 30 {
		stream := "acct-1"
		if i%3 == 0 {
			stream = "other-1"
		}
		if _, err := store.Append(ctx, stream, eventstore.Any(), amountEvent(uuid.New(), 1)); err != nil {
			t.Fatal(err)
		}
	}
	all := ledger(1)
	onlyAcct := ledger(1)
	onlyAcct.Name = "acct"
	onlyAcct.StreamPrefixes = []string{"acct-"}
	onlyAcct.Tables = []string{"acct_balances", "acct_entries"}
	onlyAcct.Setup = func(ctx context.Context, tx Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE {acct_balances} (stream TEXT PRIMARY KEY, n INTEGER); CREATE TABLE {acct_entries} (id TEXT)`)
		return err
	}
	onlyAcct.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		_, err := tx.Exec(ctx, `INSERT INTO {acct_balances} VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1`, e.Stream)
		return err
	}
	r := newRunner(t, store, tg, opts(projection.WithBatchSize(7), projection.WithCatchUpBatchSize(7)), all, onlyAcct)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT n FROM acct_balances WHERE stream = 'acct-1'`).Scan(&n); err != nil || n != 20 {
		t.Fatalf("acct projection: n=%d err=%v, want 20", n, err)
	}
	if st := statsOf(r, "acct"); st.Applied != 20 || st.Lag != 0 {
		t.Fatalf("acct stats %+v", st)
	}
	if st := statsOf(r, "ledger"); st.Applied != 30 || st.Lag != 0 {
		t.Fatalf("ledger stats %+v", st)
	}
	// Five more acct events, not applied yet: Status counts them.
	for range 5 {
		if _, err := store.Append(ctx, "acct-1", eventstore.Any(), amountEvent(uuid.New(), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if s := statusOf(t, r, "acct"); s.Lag != 5 || s.LagCapped || s.LagAge <= 0 || s.Head != head(t, store) {
		t.Fatalf("acct status with 5 events to apply: %+v", s)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if st := statsOf(r, "acct"); st.Applied != 25 || st.Lag != 0 || st.Checkpoint != head(t, store) {
		t.Fatalf("acct stats after more: %+v", st)
	}
}

// Status reports the active generation and its code version, its checkpoint, the
// head, the lag in events (capped) and in age, and the parked events.
func TestStatus(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	r := newRunner(t, store, tg, opts(projection.WithLagLimit(10)), ledger(3))
	s := statusOf(t, r, "ledger")
	if s.Active != nil || s.Building != nil || s.State != projection.Idle || s.Version != 3 {
		t.Fatalf("status before the first run: %+v", s)
	}
	workload(t, ctx, store, 8, 50, 5)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	s = statusOf(t, r, "ledger")
	if s.Active == nil || s.Active.Number != 1 || s.Active.Version != 3 || s.Active.State != projection.Active ||
		s.Checkpoint != head(t, store) || s.Lag != 0 || s.LagAge != 0 || s.Building != nil || s.Parked != 0 {
		t.Fatalf("status after catch-up: %+v", s)
	}
	workload(t, ctx, store, 9, 30, 5)
	s = statusOf(t, r, "ledger")
	if s.Lag != 10 || !s.LagCapped || s.LagAge <= 0 || s.Head != head(t, store) || s.Checkpoint == s.Head {
		t.Fatalf("status 30 events behind, lag limit 10: %+v", s)
	}
	all, err := r.Statuses(ctx)
	if err != nil || len(all) != 1 || all[0].Name != "ledger" {
		t.Fatalf("Statuses = %+v, %v", all, err)
	}
	if _, err := r.Status(ctx, "nope"); !errors.Is(err, projection.ErrUnknownProjection) {
		t.Fatalf("Status of an unknown name: %v", err)
	}
}
