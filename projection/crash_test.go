package projection_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/idemkit/idem/internal/crashtest"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

const crashEvents, crashStreams = 3000, 40

// TestProjectionCrashChild is the child process of
// TestProjectionCrashBetweenApplyAndCommit: it rebuilds the same seeded log in
// memory, and applies it to the projection database on disk until it is killed.
func TestProjectionCrashChild(t *testing.T) {
	crashtest.Child(t)
	ctx := context.Background()
	store := newStore(t)
	workload(t, ctx, store, 42, crashEvents, crashStreams)
	tg, err := sqlitetarget.Open(ctx, os.Getenv("IDEM_PROJECTION_CRASH_DB"))
	if err != nil {
		t.Fatal(err)
	}
	batch, _ := strconv.Atoi(os.Getenv("IDEM_PROJECTION_CRASH_BATCH"))
	p := ledger(1)
	inner := p.Handle
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		if err := inner(ctx, tx, e); err != nil {
			return err
		}
		crashtest.Point()
		// Spend time between the writes and the commit, so kills land there.
		time.Sleep(50 * time.Microsecond)
		return nil
	}
	r, err := projection.NewRunner(store, tg, projection.WithCatchUpBatchSize(batch))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(p); err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
}

// A projection process is killed (SIGKILL) between a handler's writes and the
// commit, and at random moments, while it applies events, then restarted, many
// times. In the end every event is applied exactly once: the checkpoint commits
// with the read model (G8).
func TestProjectionCrashBetweenApplyAndCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	checkpoint := func() uint64 {
		tg, err := sqlitetarget.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		var c uint64
		if err := tg.DB().QueryRow(`SELECT commit_pos FROM idem_projection_generations WHERE name = 'ledger'`).Scan(&c); err != nil {
			return 0
		}
		return c
	}
	res := crashtest.Run(t, crashtest.Config{
		Test: "TestProjectionCrashChild",
		Env:  []string{"IDEM_PROJECTION_CRASH_DB=" + path},
		RunEnv: func(rng *rand.Rand) []string {
			return []string{"IDEM_PROJECTION_CRASH_BATCH=" + strconv.Itoa(16+rng.IntN(200))}
		},
		Progress: checkpoint, Done: crashEvents,
		Kills: 6, MaxPause: 300, Seed: 7,
	})
	if res.Midway < 2 {
		t.Fatalf("only %d of %d kills landed while events were being applied", res.Midway, res.Kills)
	}
	ctx := context.Background()
	want := workload(t, ctx, newStore(t), 42, crashEvents, crashStreams)
	tg, err := sqlitetarget.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	checkExactlyOnce(t, tg.DB(), want)
	t.Log(res)
}
