package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/projection"
)

// A read model built live, while a seeded random workload of 10,000 events over 100
// streams is appended, equals the one a rebuild from position zero gives (G9): a
// rebuild by a deploy of new code (Version 2), and a rebuild by a Rebuild call, no
// code change.
func TestProjectionRebuildEqualsLive(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	r := newRunner(t, store, tg, opts(projection.WithBatchSize(128)), ledger(1))
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
	waitFor(t, "live catch-up", func() bool { return statsOf(r, "ledger").Checkpoint == h })
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
	v2.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		modes.Store(e.Mode, true)
		return inner(ctx, tx, e)
	}
	r2 := newRunner(t, store, tg, opts(projection.WithProgress(func(p projection.Progress) { progress = append(progress, p) })), v2)
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dump(t, db, "balances", "entries"); rebuilt != live {
		t.Fatal("the read model rebuilt by version 2 differs from the live one")
	}
	if _, ok := modes.Load(projection.Rebuild); !ok {
		t.Fatal("the rebuild's handler never saw Mode Rebuild")
	}
	if _, ok := modes.Load(projection.Live); ok {
		t.Fatal("the rebuild's handler saw Mode Live")
	}
	last := progress[len(progress)-1]
	if !last.CaughtUp || last.Done != 10000 || last.Total != 10000 || last.Mode != projection.Rebuild || last.Generation != 2 {
		t.Fatalf("last progress report %+v", last)
	}
	if n := tableCount(t, db, "balances_g1"); n != 0 {
		t.Fatal("the retired generation's tables were not dropped")
	}

	// The same code, rebuilt by a call.
	var calls []projection.Progress
	if err := r2.Rebuild(ctx, "ledger", projection.WithRebuildProgress(func(p projection.Progress) { calls = append(calls, p) })); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dump(t, db, "balances", "entries"); rebuilt != live {
		t.Fatal("the read model rebuilt by Rebuild differs from the live one")
	}
	if last := calls[len(calls)-1]; !last.CaughtUp || last.Done != 10000 || last.Generation != 3 {
		t.Fatalf("last progress report of Rebuild %+v", last)
	}
	s := statusOf(t, r2, "ledger")
	if s.Active == nil || s.Active.Number != 3 || s.Active.Version != 2 || s.Building != nil || s.Checkpoint != h {
		t.Fatalf("status after Rebuild: %+v", s)
	}
	if n := tableCount(t, db, "balances_g2"); n != 0 {
		t.Fatal("generation 2's tables were not dropped")
	}
}

func tableCount(t testing.TB, db *sql.DB, name string) int {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var viewGeneration = regexp.MustCompile(`_g(\d+)`)

// underWrites appends events one at a time while readers read the read model in
// transactions and check that each read sees one whole generation: its tables agree
// with each other and with its checkpoint, never a generation still being built,
// never an older generation after a newer one.
type underWrites struct {
	t       *testing.T
	store   *memory.Store
	prefill int

	mu   sync.Mutex
	want map[string][2]int64

	stopWriters, stopReaders chan struct{}
	writersOnce, readersOnce sync.Once
	wg                       sync.WaitGroup
	reads                    atomic.Int64
	seen                     sync.Map // generations seen by readers
}

func startUnderWrites(t *testing.T, store *memory.Store, reader *sql.DB, prefill int, want map[string][2]int64) *underWrites {
	u := &underWrites{t: t, store: store, prefill: prefill, want: want,
		stopWriters: make(chan struct{}), stopReaders: make(chan struct{})}
	ctx := context.Background()
	u.wg.Go(func() { // writer
		for i := 0; ; i++ {
			select {
			case <-u.stopWriters:
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
			u.mu.Lock()
			u.want[s] = [2]int64{u.want[s][0] + 1, u.want[s][1] + 1}
			u.mu.Unlock()
			time.Sleep(200 * time.Microsecond)
		}
	})
	u.wg.Go(func() { // reader
		var violations int
		maxGen := 0
		for {
			select {
			case <-u.stopReaders:
				return
			default:
			}
			gen, count, sum, cp, err := readSnapshot(ctx, reader)
			if err != nil {
				t.Errorf("reader: %v", err)
				return
			}
			u.reads.Add(1)
			u.seen.Store(gen, true)
			switch {
			case count != sum || count != int64(cp):
				t.Errorf("reader saw generation %d with %d entries, balances summing to %d, checkpoint %d", gen, count, sum, cp)
				violations++
			case count < int64(u.prefill):
				t.Errorf("reader saw a half-built generation %d: %d entries", gen, count)
				violations++
			case gen < maxGen:
				t.Errorf("reader went back from generation %d to %d", maxGen, gen)
				violations++
			}
			maxGen = max(maxGen, gen)
			if violations > 5 {
				return
			}
		}
	})
	return u
}

func (u *underWrites) stopWrites() { u.writersOnce.Do(func() { close(u.stopWriters) }) }

func (u *underWrites) stop() {
	u.stopWrites()
	u.readersOnce.Do(func() { close(u.stopReaders) })
	u.wg.Wait()
}

// check stops everything and checks that readers saw the given generations and
// the read model holds every event once.
func (u *underWrites) check(db *sql.DB, gens ...int) {
	u.stop()
	u.mu.Lock()
	checkExactlyOnce(u.t, db, u.want)
	u.mu.Unlock()
	for _, g := range gens {
		if _, ok := u.seen.Load(g); !ok {
			u.t.Errorf("readers never saw generation %d", g)
		}
	}
	if u.reads.Load() < 10 {
		u.t.Errorf("readers made %d reads", u.reads.Load())
	}
}

// Blue/green: a second runner (a new deployment, Version 2) rebuilds the projection
// while version 1 runs live and writers keep appending. Readers always see one
// whole generation. Once switched, the runner of version 1 steps aside: its Run
// returns nil, its status says so, and it refuses to rebuild. In the end nothing is
// lost or doubled.
func TestProjectionBlueGreenSwitchUnderWrites(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	path := t.TempDir() + "/rm.db"
	tgA, tgB, tgR := openTargetAt(t, path), openTargetAt(t, path), openTargetAt(t, path)
	const prefill = 3000
	want := workload(t, ctx, store, 9, prefill, 50)

	rA := newRunner(t, store, tgA, opts(projection.WithBatchSize(64)), ledger(1))
	if err := rA.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	doneA := make(chan error, 1)
	go func() { doneA <- rA.Run(runCtx) }()
	u := startUnderWrites(t, store, tgR.DB(), prefill, want)
	defer u.stop()

	time.Sleep(100 * time.Millisecond)
	rB := newRunner(t, store, tgB, opts(projection.WithBatchSize(64)), ledger(2))
	doneB := make(chan error, 1)
	go func() { doneB <- rB.Run(runCtx) }()
	waitFor(t, "the switch to generation 2", func() bool {
		st := statsOf(rB, "ledger")
		if st.Err != nil {
			t.Fatalf("version 2: %v", st.Err)
		}
		return st.Generation == 2 && st.Mode == projection.Live
	})
	select {
	case err := <-doneA:
		if err != nil {
			t.Fatalf("runner of version 1 returned %v, want nil once it stepped aside", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runner of version 1 kept running after the switch")
	}
	if st := statsOf(rA, "ledger"); st.State != projection.SteppedAside || st.Err != nil {
		t.Fatalf("stats of version 1 after the switch: %+v", st)
	}
	if s := statusOf(t, rA, "ledger"); s.State != projection.SteppedAside || s.Active == nil || s.Active.Version != 2 {
		t.Fatalf("status of version 1 after the switch: %+v", s)
	}
	if err := rA.Rebuild(ctx, "ledger"); !errors.Is(err, projection.ErrSteppedAside) {
		t.Fatalf("Rebuild by version 1 after the switch: %v, want ErrSteppedAside", err)
	}
	time.Sleep(100 * time.Millisecond)
	u.stopWrites()
	h := head(t, store)
	waitFor(t, "version 2 to catch up", func() bool { return statsOf(rB, "ledger").Checkpoint == h })
	u.stop()
	cancel()
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	u.check(tgR.DB(), 1, 2)
	if tableCount(t, tgR.DB(), "entries_g1") != 0 {
		t.Fatal("generation 1's tables were not dropped")
	}

	// Old code started again after the switch steps aside at once: nothing applied.
	rOld := newRunner(t, store, tgA, nil, ledger(1))
	if err := rOld.CatchUp(ctx); err != nil {
		t.Fatalf("CatchUp of old code: %v, want nil", err)
	}
	if st := statsOf(rOld, "ledger"); st.State != projection.SteppedAside || st.Applied != 0 {
		t.Fatalf("stats of old code: %+v", st)
	}
	t.Logf("%d events, %d reads during the switch", h.Commit, u.reads.Load())
}

// An operator rebuilds a projection that runs live in the same runner, with no code
// change, while writers append: readers see generation 1, then generation 2, each
// whole; the live loop moves to generation 2 once switched; nothing is lost or
// doubled.
func TestRebuildCallUnderWrites(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	path := t.TempDir() + "/rm.db"
	tg, tgR := openTargetAt(t, path), openTargetAt(t, path)
	const prefill = 3000
	want := workload(t, ctx, store, 10, prefill, 50)
	r := newRunner(t, store, tg, opts(projection.WithBatchSize(64)), ledger(1))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	u := startUnderWrites(t, store, tgR.DB(), prefill, want)
	defer u.stop()
	time.Sleep(100 * time.Millisecond)
	if err := r.Rebuild(ctx, "ledger"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the live loop on generation 2", func() bool { return statsOf(r, "ledger").Generation == 2 })
	time.Sleep(100 * time.Millisecond)
	u.stopWrites()
	h := head(t, store)
	waitFor(t, "generation 2 to catch up", func() bool { return statsOf(r, "ledger").Checkpoint == h })
	u.stop()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	u.check(tgR.DB(), 1, 2)
}

// A runner whose generation another process retired by a rebuild of the same code
// version adopts the new generation and goes on from its checkpoint: no error, no
// event lost or doubled.
func TestRetiredRunnerAdoptsTheNewGeneration(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	path := t.TempDir() + "/rm.db"
	tgA, tgB := openTargetAt(t, path), openTargetAt(t, path)
	want := workload(t, ctx, store, 11, 1000, 20)
	rA := newRunner(t, store, tgA, nil, ledger(1))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rA.Run(runCtx) }()
	h := head(t, store)
	waitFor(t, "runner A to catch up", func() bool { return statsOf(rA, "ledger").Checkpoint == h })

	rB := newRunner(t, store, tgB, nil, ledger(1)) // an operator's tool, another process
	if err := rB.Rebuild(ctx, "ledger"); err != nil {
		t.Fatal(err)
	}
	for s, w := range workload(t, ctx, store, 12, 300, 20) {
		want[s] = [2]int64{want[s][0] + w[0], want[s][1] + w[1]}
	}
	h = head(t, store)
	waitFor(t, "runner A to adopt generation 2 and catch up", func() bool {
		st := statsOf(rA, "ledger")
		return st.Generation == 2 && st.Checkpoint == h
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run of the runner whose generation was retired: %v, want nil", err)
	}
	checkExactlyOnce(t, tgA.DB(), want)
	if st := statsOf(rA, "ledger"); st.State != projection.Idle || st.Err != nil {
		t.Fatalf("stats of runner A: %+v", st)
	}
}

// A Rebuild cancelled midway leaves the active generation untouched (readers see
// the same read model); the partial generation stays building and the next Rebuild
// resumes it from its checkpoint, or, WithFreshStart, retires it and starts anew.
func TestRebuildCancelledResumes(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	const n = 2000
	want := workload(t, ctx, store, 13, n, 20)
	p := ledger(1)
	inner := p.Handle
	var handled atomic.Int64
	var stopAt atomic.Int64
	var cancelRebuild context.CancelFunc
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		if e.Mode == projection.Rebuild && handled.Add(1) == stopAt.Load() {
			cancelRebuild()
		}
		return inner(ctx, tx, e)
	}
	r := newRunner(t, store, tg, opts(projection.WithCatchUpBatchSize(256)), p)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	live := dump(t, db, "balances", "entries")

	cancelled := func(fresh bool) projection.Status {
		t.Helper()
		handled.Store(0)
		stopAt.Store(700)
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		cancelRebuild = cancel
		var ropts []projection.RebuildOption
		if fresh {
			ropts = append(ropts, projection.WithFreshStart())
		}
		if err := r.Rebuild(rctx, "ledger", ropts...); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Rebuild = %v, want context.Canceled", err)
		}
		if got := dump(t, db, "balances", "entries"); got != live {
			t.Fatal("a cancelled Rebuild changed what readers read")
		}
		s := statusOf(t, r, "ledger")
		if s.Active == nil || s.Active.Number != 1 || s.Building == nil || s.Building.Checkpoint.Commit < 256 || s.Building.Checkpoint.Commit >= n {
			t.Fatalf("status after a cancelled Rebuild: %+v", s)
		}
		return s
	}
	s := cancelled(false)
	if s.Building.Number != 2 {
		t.Fatalf("the first Rebuild built generation %d, want 2", s.Building.Number)
	}
	s = cancelled(true)
	if s.Building.Number != 3 || tableCount(t, db, "entries_g2") != 0 {
		t.Fatalf("WithFreshStart built generation %d (want 3) and left generation 2's tables: %d", s.Building.Number, tableCount(t, db, "entries_g2"))
	}
	resumedFrom := s.Building.Checkpoint.Commit
	handled.Store(0)
	stopAt.Store(-1)
	if err := r.Rebuild(ctx, "ledger"); err != nil {
		t.Fatal(err)
	}
	if got := handled.Load(); got != int64(n-resumedFrom) {
		t.Fatalf("the resumed Rebuild applied %d events, want the %d after its checkpoint", got, n-resumedFrom)
	}
	s = statusOf(t, r, "ledger")
	if s.Active == nil || s.Active.Number != 3 || s.Building != nil {
		t.Fatalf("status after the resumed Rebuild: %+v", s)
	}
	if got := dump(t, db, "balances", "entries"); got != live {
		t.Fatal("the resumed rebuild differs from the live read model")
	}
	checkExactlyOnce(t, db, want)
}

// Two builds of one projection never run at once in a runner: a Rebuild while one
// runs fails with ErrRunning.
func TestRebuildWhileBuildingIsRefused(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	workload(t, ctx, store, 14, 100, 5)
	p := ledger(1)
	inner := p.Handle
	entered, release := make(chan struct{}, 1), make(chan struct{})
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		if e.Mode == projection.Rebuild {
			select {
			case entered <- struct{}{}:
				<-release
			default:
			}
		}
		return inner(ctx, tx, e)
	}
	r := newRunner(t, store, tg, nil, p)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Rebuild(ctx, "ledger") }()
	<-entered
	if err := r.Rebuild(ctx, "ledger"); !errors.Is(err, projection.ErrRunning) {
		t.Fatalf("second Rebuild = %v, want ErrRunning", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.Rebuild(ctx, "nope"); !errors.Is(err, projection.ErrUnknownProjection) {
		t.Fatalf("Rebuild of an unknown projection = %v", err)
	}
}

// readSnapshot reads, in one transaction, which generation the views show, its
// entries count, the sum of its balances and its checkpoint.
func readSnapshot(ctx context.Context, db *sql.DB) (gen int, count, sum int64, cp uint64, err error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return
	}
	defer tx.Rollback()
	var def string
	if err = tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'entries'`).Scan(&def); err != nil {
		return
	}
	m := viewGeneration.FindStringSubmatch(def)
	if m == nil {
		err = fmt.Errorf("view definition %q", def)
		return
	}
	gen, _ = strconv.Atoi(m[1])
	if err = tx.QueryRowContext(ctx, `SELECT count(*) FROM entries`).Scan(&count); err != nil {
		return
	}
	if err = tx.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM balances`).Scan(&sum); err != nil {
		return
	}
	err = tx.QueryRowContext(ctx, `SELECT commit_pos FROM idem_projection_generations WHERE name = 'ledger' AND generation = ?`, gen).Scan(&cp)
	return
}

// lockedBuffer collects log output written from the runner's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A retired generation whose tables cannot be dropped after the switch is logged,
// not an error: readers read the new generation already. The next start drops it.
func TestFailedDropIsLoggedAndRetried(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	workload(t, ctx, store, 15, 200, 10)
	var logs lockedBuffer
	logger := projection.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	r := newRunner(t, store, tg, opts(logger), ledger(1))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TRIGGER keep_guards BEFORE DELETE ON idem_projection_guards
		BEGIN SELECT RAISE(ABORT, 'guards are kept'); END`); err != nil {
		t.Fatal(err)
	}
	if err := r.Rebuild(ctx, "ledger"); err != nil {
		t.Fatalf("Rebuild with a failing cleanup: %v, want nil", err)
	}
	if !strings.Contains(logs.String(), "retired projection generation not dropped") || !strings.Contains(logs.String(), "guards are kept") {
		t.Fatalf("the failed cleanup was not logged:\n%s", logs.String())
	}
	if s := statusOf(t, r, "ledger"); s.Active == nil || s.Active.Number != 2 || tableCount(t, db, "balances_g1") != 1 {
		t.Fatalf("after a failed cleanup: status %+v, balances_g1 %d", s, tableCount(t, db, "balances_g1"))
	}
	if _, err := db.Exec(`DROP TRIGGER keep_guards`); err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if tableCount(t, db, "balances_g1") != 0 {
		t.Fatal("the next start did not drop the retired generation")
	}
}
