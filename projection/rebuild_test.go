package projection_test

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// A read model built live, while a seeded random workload of 10,000 events over 100
// streams is appended, equals the one a rebuild from position zero gives (G9).
func TestProjectionRebuildEqualsLive(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	db := openDB(t, "rm.db")
	r := newRunner(t, store, db, projection.Options{BatchSize: 128}, ledger(1))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	want := map[string][2]int64{}
	for chunk := range 20 {
		for s, w := range workload(t, ctx, store, 100+uint64(chunk), 500, 100) {
			want[s] = [2]int64{want[s][0] + w[0], want[s][1] + w[1]}
		}
	}
	h := head(t, store)
	waitFor(t, "live catch-up", func() bool { return statsOf(r, "ledger", 1).Checkpoint == h })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h.Commit != 10000 || len(want) != 100 {
		t.Fatalf("workload: %d events over %d streams", h.Commit, len(want))
	}
	checkExactlyOnce(t, db, want)
	live := dump(t, db, "balances", "entries")

	var modes sync.Map
	var progress []projection.Progress
	v2 := ledger(2)
	inner := v2.Handle
	v2.Handle = func(ctx context.Context, tx *projection.Tx, e projection.Event) error {
		modes.Store(e.Mode, true)
		return inner(ctx, tx, e)
	}
	r2 := newRunner(t, store, db, projection.Options{Progress: func(p projection.Progress) { progress = append(progress, p) }}, v2)
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dump(t, db, "balances", "entries"); rebuilt != live {
		t.Fatal("the rebuilt read model differs from the live one")
	}
	if _, ok := modes.Load(projection.Rebuild); !ok {
		t.Fatal("the rebuild's handler never saw Mode Rebuild")
	}
	if _, ok := modes.Load(projection.Live); ok {
		t.Fatal("the rebuild's handler saw Mode Live")
	}
	last := progress[len(progress)-1]
	if !last.CaughtUp || last.Done != 10000 || last.Total != 10000 || last.Mode != projection.Rebuild {
		t.Fatalf("last progress report %+v", last)
	}
	if n := tableCount(t, db, "balances_v1"); n != 0 {
		t.Fatal("the old version's tables were not dropped")
	}
}

func tableCount(t testing.TB, db *sql.DB, name string) int {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var viewVersion = regexp.MustCompile(`_v(\d+)`)

// Blue/green: a second runner (a new deployment) rebuilds version 2 while version 1
// runs live and writers keep appending. Readers, reading in transactions, always see
// one whole version: its tables agree with each other and with its checkpoint, and
// never a version that is still being built. In the end nothing is lost or doubled.
func TestProjectionBlueGreenSwitchUnderWrites(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	path := t.TempDir() + "/rm.db"
	open := func() *sql.DB {
		db, err := projection.OpenDB(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	const prefill = 3000
	want := workload(t, ctx, store, 9, prefill, 50)
	var wantMu sync.Mutex

	dbA, dbB, dbR := open(), open(), open()
	rA := newRunner(t, store, dbA, projection.Options{BatchSize: 64}, ledger(1))
	if err := rA.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	doneA := make(chan error, 1)
	go func() { doneA <- rA.Run(runCtx) }()

	stopWriters, stopReaders := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var writersOnce, readersOnce sync.Once
	stopWrites := func() { writersOnce.Do(func() { close(stopWriters) }) }
	stopAll := func() {
		stopWrites()
		readersOnce.Do(func() { close(stopReaders) })
		wg.Wait()
	}
	defer stopAll()
	wg.Go(func() { // writer
		for i := 0; ; i++ {
			select {
			case <-stopWriters:
				return
			default:
			}
			if i%1000 == 999 {
				time.Sleep(20 * time.Millisecond) // let the rebuild catch up now and then
			}
			s := fmt.Sprintf("acct-%03d", i%50)
			if _, err := store.Append(ctx, s, eventstore.Any(), amountEvent(uuid.New(), 1)); err != nil {
				t.Error(err)
				return
			}
			wantMu.Lock()
			want[s] = [2]int64{want[s][0] + 1, want[s][1] + 1}
			wantMu.Unlock()
			time.Sleep(200 * time.Microsecond)
		}
	})
	var reads, violations atomic.Int64
	var seen sync.Map // versions seen by readers
	wg.Go(func() {    // reader
		maxVersion := 0
		for {
			select {
			case <-stopReaders:
				return
			default:
			}
			version, count, sum, cp, err := readSnapshot(ctx, dbR)
			if err != nil {
				t.Errorf("reader: %v", err)
				return
			}
			reads.Add(1)
			seen.Store(version, true)
			switch {
			case count != sum || count != int64(cp):
				t.Errorf("reader saw v%d with %d entries, balances summing to %d, checkpoint %d", version, count, sum, cp)
				violations.Add(1)
			case count < prefill:
				t.Errorf("reader saw a half-built v%d: %d entries", version, count)
				violations.Add(1)
			case version < maxVersion:
				t.Errorf("reader went back from v%d to v%d", maxVersion, version)
				violations.Add(1)
			}
			maxVersion = max(maxVersion, version)
			if violations.Load() > 5 {
				return
			}
		}
	})

	time.Sleep(100 * time.Millisecond)
	rB := newRunner(t, store, dbB, projection.Options{BatchSize: 64}, ledger(2))
	doneB := make(chan error, 1)
	go func() { doneB <- rB.Run(runCtx) }()
	waitFor(t, "the switch to v2", func() bool {
		st := statsOf(rB, "ledger", 2)
		if st.Err != nil {
			t.Fatalf("v2: %v", st.Err)
		}
		return st.State == "active"
	})
	select {
	case err := <-doneA:
		if err != nil {
			t.Fatalf("runner of v1 returned %v, want nil once retired", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runner of v1 kept running after the switch")
	}
	time.Sleep(100 * time.Millisecond)
	stopWrites()
	time.Sleep(10 * time.Millisecond)
	h := head(t, store)
	waitFor(t, "v2 to catch up", func() bool { return statsOf(rB, "ledger", 2).Checkpoint == h })
	stopAll()
	cancel()
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	wantMu.Lock()
	checkExactlyOnce(t, dbR, want)
	wantMu.Unlock()
	_, saw1 := seen.Load(1)
	_, saw2 := seen.Load(2)
	if !saw1 || !saw2 || reads.Load() < 10 {
		t.Fatalf("readers made %d reads, saw v1 %v, v2 %v", reads.Load(), saw1, saw2)
	}
	if tableCount(t, dbR, "entries_v1") != 0 {
		t.Fatal("v1's tables were not dropped")
	}
	t.Logf("%d events, %d reads during the switch", h.Commit, reads.Load())
}

// readSnapshot reads, in one transaction, which version the views show, its
// entries count, the sum of its balances and its checkpoint.
func readSnapshot(ctx context.Context, db *sql.DB) (version int, count, sum int64, cp uint64, err error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return
	}
	defer tx.Rollback()
	var def string
	if err = tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'entries'`).Scan(&def); err != nil {
		return
	}
	m := viewVersion.FindStringSubmatch(def)
	if m == nil {
		err = fmt.Errorf("view definition %q", def)
		return
	}
	version, _ = strconv.Atoi(m[1])
	if err = tx.QueryRowContext(ctx, `SELECT count(*) FROM entries`).Scan(&count); err != nil {
		return
	}
	if err = tx.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM balances`).Scan(&sum); err != nil {
		return
	}
	err = tx.QueryRowContext(ctx, `SELECT commit_pos FROM idem_projections WHERE name = 'ledger' AND version = ?`, version).Scan(&cp)
	return
}
