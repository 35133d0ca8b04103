package projection_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

func TestProjectionCatchUpThenLive(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	db := openDB(t, "rm.db")
	want := workload(t, ctx, store, 1, 500, 20)
	r := newRunner(t, store, db, projection.Options{BatchSize: 64}, ledger(1))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, db, want)
	st := statsOf(r, "ledger", 1)
	if st.Applied != 500 || st.Skipped != 0 || st.Checkpoint != head(t, store) || st.Lag != 0 || st.State != "active" {
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
	waitFor(t, "live checkpoint", func() bool { return statsOf(r, "ledger", 1).Checkpoint == h })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	checkExactlyOnce(t, db, want)
	if st := statsOf(r, "ledger", 1); st.Mode != projection.Live || st.Applied != 800 {
		t.Fatalf("stats after live: %+v", st)
	}
}

// A handler error rolls back its batch; the events before it commit, it is retried,
// and in the end every event is applied exactly once (a fault between apply and
// commit, in process).
func TestProjectionHandlerFaultRollsBackAndRetries(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	db := openDB(t, "rm.db")
	want := workload(t, ctx, store, 3, 400, 10)
	p := ledger(1)
	inner := p.Handle
	calls := 0
	p.Handle = func(ctx context.Context, tx *projection.Tx, e projection.Event) error {
		calls++
		if err := inner(ctx, tx, e); err != nil {
			return err
		}
		if calls == 100 || calls == 250 { // after the writes, before the commit
			return errors.New("injected fault after apply")
		}
		return nil
	}
	r := newRunner(t, store, db, projection.Options{BatchSize: 64}, p)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, db, want)
	if st := statsOf(r, "ledger", 1); st.Retries != 2 || st.Applied != 400 {
		t.Fatalf("stats: %+v, want 2 retries and 400 applied", st)
	}
}

func TestProjectionValidation(t *testing.T) {
	store := newStore(t)
	db := openDB(t, "rm.db")
	r := newRunner(t, store, db, projection.Options{})
	bad := []projection.SQL{
		{},
		func() projection.SQL { p := ledger(0); return p }(),
		func() projection.SQL { p := ledger(1); p.Tables = []string{"bad name"}; return p }(),
		func() projection.SQL { p := ledger(1); p.Tables = []string{"idem_x"}; return p }(),
		func() projection.SQL { p := ledger(1); p.Handle = nil; return p }(),
	}
	for i, p := range bad {
		if err := r.AddSQL(p); !errors.Is(err, projection.ErrInvalidProjection) {
			t.Errorf("case %d: AddSQL = %v, want ErrInvalidProjection", i, err)
		}
	}
	if err := r.AddSQL(ledger(1)); err != nil {
		t.Fatal(err)
	}
	if err := r.AddSQL(ledger(1)); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("same version twice: %v", err)
	}
	if err := r.AddReactor(projection.Reactor{Name: "ledger", Handle: func(context.Context, projection.ReactorEvent) error { return nil }}); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("reactor with a projection's name: %v", err)
	}
	// Setup that forgets a declared table.
	p := ledger(1)
	p.Name = "forgetful"
	p.Setup = func(ctx context.Context, tx *projection.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE {balances} (stream TEXT)`)
		return err
	}
	r2 := newRunner(t, store, db, projection.Options{}, p)
	if err := r2.CatchUp(context.Background()); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("setup without a declared table: %v", err)
	}
}

func TestProjectionFiltersAndSeveralAtOnce(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	db := openDB(t, "rm.db")
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
	onlyAcct.Setup = func(ctx context.Context, tx *projection.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE {acct_balances} (stream TEXT PRIMARY KEY, n INTEGER); CREATE TABLE {acct_entries} (id TEXT)`)
		return err
	}
	onlyAcct.Handle = func(ctx context.Context, tx *projection.Tx, e projection.Event) error {
		_, err := tx.Exec(ctx, `INSERT INTO {acct_balances} VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1`, e.Stream)
		return err
	}
	r := newRunner(t, store, db, projection.Options{BatchSize: 7}, all, onlyAcct)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT n FROM acct_balances WHERE stream = 'acct-1'`).Scan(&n); err != nil || n != 20 {
		t.Fatalf("acct projection: n=%d err=%v, want 20", n, err)
	}
	if st := statsOf(r, "acct", 1); st.Applied != 20 || st.Lag != 0 {
		t.Fatalf("acct stats %+v", st)
	}
	if st := statsOf(r, "ledger", 1); st.Applied != 30 || st.Lag != 0 {
		t.Fatalf("ledger stats %+v", st)
	}
	// Lag: append 5 more acct events without running: the next stats refresh
	// reports them. CatchUp refreshes after catching up, so use a second runner that
	// only adds a reactor; the projections' lag is read from a fresh Run instead.
	for range 5 {
		if _, err := store.Append(ctx, "acct-1", eventstore.Any(), amountEvent(uuid.New(), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if st := statsOf(r, "acct", 1); st.Applied != 25 || st.Lag != 0 || st.Checkpoint != head(t, store) {
		t.Fatalf("acct stats after more: %+v", st)
	}
}
