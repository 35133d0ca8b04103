package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// physicalTables lists the tables of the read model whose name says they hold a
// generation's rows.
func physicalTables(t testing.TB, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB '*_g[0-9]*' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// TestReconcileCleanReadModel: a read model built live equals its shadow copy
// built from history; the report says so, at the live checkpoint, and the shadow
// generation is gone afterwards (retired, no tables), the live one untouched.
func TestReconcileCleanReadModel(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "read.db")
	workload(t, ctx, store, 7, 400, 12)
	r := newRunner(t, store, tg, nil, ledger(1))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	before := dump(t, tg.DB(), "balances", "entries")
	var progress atomic.Int64
	rep, err := r.Reconcile(ctx, "ledger", projection.WithReconcileProgress(func(projection.Progress) { progress.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches() != 0 {
		t.Fatalf("a clean read model has %d mismatches: %+v", rep.Mismatches(), rep.Tables)
	}
	if rep.Live != 1 || rep.Shadow != 2 || rep.Events != 400 || rep.Checkpoint != head(t, store) || len(rep.Tables) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if progress.Load() == 0 {
		t.Fatal("no progress reported")
	}
	if got := dump(t, tg.DB(), "balances", "entries"); got != before {
		t.Fatal("the live read model changed")
	}
	if tables := physicalTables(t, tg.DB()); len(tables) != 2 || tables[0] != "balances_g1" {
		t.Fatalf("tables left: %v, want only generation 1's", tables)
	}
	gens, err := tg.Generations(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) != 2 || gens[0].State != projection.Active || gens[1].State != projection.Retired || len(gens[1].Tables) != 0 {
		t.Fatalf("generations after reconcile: %+v", gens)
	}
}

// TestReconcileFindsPlantedMismatches: a row changed, a row deleted and a row
// added in the live tables are each reported, by kind, with their values.
func TestReconcileFindsPlantedMismatches(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "read.db")
	workload(t, ctx, store, 8, 200, 6)
	r := newRunner(t, store, tg, nil, ledger(1))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var victim string
	if err := tg.DB().QueryRow(`SELECT event_id FROM entries ORDER BY event_id LIMIT 1`).Scan(&victim); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE balances_g1 SET total = total + 1 WHERE stream = 'acct-003'`,
		`DELETE FROM entries_g1 WHERE event_id = '` + victim + `'`,
		`INSERT INTO entries_g1 (event_id, stream, revision, amount) VALUES ('planted', 'acct-999', 0, 5)`,
	} {
		if _, err := tg.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := r.Reconcile(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches() != 3 {
		t.Fatalf("%d mismatches, want 3: %+v", rep.Mismatches(), rep.Tables)
	}
	bal, ent := rep.Tables[0], rep.Tables[1]
	if bal.Table != "balances" || bal.Different != 1 || bal.Missing+bal.Extra != 0 || len(bal.Rows) != 1 ||
		bal.Rows[0].Live[0] != "acct-003" || bal.Rows[0].Live[2] == bal.Rows[0].Rebuilt[2] {
		t.Fatalf("balances: %+v", bal)
	}
	if ent.Missing != 1 || ent.Extra != 1 || ent.Different != 0 {
		t.Fatalf("entries: %+v", ent)
	}
	for _, row := range ent.Rows {
		switch row.Kind {
		case projection.Missing:
			if row.Live != nil || row.Rebuilt[0] != victim {
				t.Fatalf("missing row %+v, want %s", row, victim)
			}
		case projection.Extra:
			if row.Rebuilt != nil || row.Live[0] != "planted" {
				t.Fatalf("extra row %+v", row)
			}
		}
	}
}

// TestReconcileRunsHandlersInRebuildModeOnly: the shadow's handlers see Mode
// Rebuild; a reactor of the runner is never run.
func TestReconcileRunsHandlersInRebuildModeOnly(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "read.db")
	workload(t, ctx, store, 9, 50, 3)
	var modes sync.Map
	p := ledger(1)
	handle := p.Handle
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		modes.Store(e.Mode, true)
		return handle(ctx, tx, e)
	}
	var reacted atomic.Int64
	r := newRunner(t, store, tg, nil, p)
	if err := r.AddReactor(projection.Reactor{Name: "mailer", Handle: func(context.Context, projection.ReactorEvent) error {
		reacted.Add(1)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	modes.Clear()
	sent := reacted.Load()
	if _, err := r.Reconcile(ctx, "ledger"); err != nil {
		t.Fatal(err)
	}
	n := 0
	modes.Range(func(k, _ any) bool {
		n++
		if k != projection.Rebuild {
			t.Errorf("a handler saw mode %v", k)
		}
		return true
	})
	if n == 0 || reacted.Load() != sent {
		t.Fatalf("modes seen %d, reactor calls %d then %d", n, sent, reacted.Load())
	}
}

// TestReconcileCancelledDropsTheShadow: a reconciliation whose context ends in
// the middle returns the context's error, drops its shadow generation and leaves
// the live one as it was.
func TestReconcileCancelledDropsTheShadow(t *testing.T) {
	store := newStore(t)
	tg := openTarget(t, "read.db")
	workload(t, context.Background(), store, 10, 300, 5)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	p := ledger(1)
	handle := p.Handle
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		if e.Mode == projection.Rebuild && calls.Add(1) == 100 {
			cancel()
		}
		return handle(ctx, tx, e)
	}
	r := newRunner(t, store, tg, opts(projection.WithCatchUpBatchSize(64)), p)
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := dump(t, tg.DB(), "balances", "entries")
	_, err := r.Reconcile(ctx, "ledger")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if got := dump(t, tg.DB(), "balances", "entries"); got != before {
		t.Fatal("the live read model changed")
	}
	if tables := physicalTables(t, tg.DB()); len(tables) != 2 {
		t.Fatalf("tables left: %v", tables)
	}
}

// TestReconcileFollowsAMovingLiveGeneration: while another runner applies new
// events live, the shadow follows the live checkpoint and both are compared at
// the same one: no mismatch is reported for events one has and the other not yet.
func TestReconcileFollowsAMovingLiveGeneration(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := newStore(t)
	path := t.TempDir() + "/read.db"
	workload(t, ctx, store, 11, 200, 5)
	live := newRunner(t, store, openTargetAt(t, path), opts(projection.WithBatchSize(1)), ledger(1))
	if err := live.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = live.Run(ctx) })
	wg.Go(func() {
		for i := 0; ctx.Err() == nil && i < 2000; i++ {
			_, _ = store.Append(ctx, "acct-moving", eventstore.Any(), amountEvent(uuid.New(), 1))
			time.Sleep(200 * time.Microsecond)
		}
	})
	defer wg.Wait()
	defer cancel()
	time.Sleep(20 * time.Millisecond)
	ops := newRunner(t, store, openTargetAt(t, path), nil, ledger(1))
	rep, err := ops.Reconcile(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches() != 0 {
		t.Fatalf("%d mismatches while the live generation moved: %+v", rep.Mismatches(), rep.Tables)
	}
}

// TestReconcileRefuses: no active generation, another version's, a build
// running, and a target that cannot compare are refused with typed errors.
func TestReconcileRefuses(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	workload(t, ctx, store, 12, 20, 2)
	tg := openTarget(t, "read.db")
	fresh := newRunner(t, store, tg, nil, ledger(1))
	if _, err := fresh.Reconcile(ctx, "ledger"); !errors.Is(err, projection.ErrUnknownProjection) {
		t.Fatalf("no generation: %v", err)
	}
	if _, err := fresh.Reconcile(ctx, "nope"); !errors.Is(err, projection.ErrUnknownProjection) {
		t.Fatalf("unknown name: %v", err)
	}
	if err := fresh.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	newer := newRunner(t, store, tg, nil, ledger(2))
	if _, err := newer.Reconcile(ctx, "ledger"); !errors.Is(err, projection.ErrVersionMismatch) {
		t.Fatalf("other version: %v", err)
	}
	if _, err := fresh.Reconcile(ctx, "ledger", projection.WithReconcileRows(-1)); !errors.Is(err, projection.ErrInvalidOption) {
		t.Fatalf("bad option: %v", err)
	}
	blind, err := projection.NewRunner[Tx](store, noDiffer{tg})
	if err != nil {
		t.Fatal(err)
	}
	if err := blind.Add(ledger(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := blind.Reconcile(ctx, "ledger"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("target without Diff: %v", err)
	}
}

// noDiffer is a target that cannot compare generations.
type noDiffer struct{ *sqlitetarget.Target }

func (noDiffer) Diff() {}
