package projection_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

const crashEvents, crashStreams = 3000, 40

// TestProjectionCrashChild is the child process of
// TestProjectionCrashBetweenApplyAndCommit: it rebuilds the same seeded log in
// memory, and applies it to the projection database on disk until it is killed.
func TestProjectionCrashChild(t *testing.T) {
	path := os.Getenv("IDEM_PROJECTION_CRASH_DB")
	if path == "" {
		t.Skip("child process of TestProjectionCrashBetweenApplyAndCommit")
	}
	ctx := context.Background()
	store := newStore(t)
	workload(t, ctx, store, 42, crashEvents, crashStreams)
	tg, err := sqlitetarget.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	batch, _ := strconv.Atoi(os.Getenv("IDEM_PROJECTION_CRASH_BATCH"))
	p := ledger(1)
	inner := p.Handle
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		// Spend time between the writes and the commit, so kills land there.
		time.Sleep(50 * time.Microsecond)
		return inner(ctx, tx, e)
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

// A projection process is killed (SIGKILL) at random moments while it applies
// events, then restarted, many times. In the end every event is applied exactly
// once: the checkpoint commits with the read model (G8).
func TestProjectionCrashBetweenApplyAndCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(7, 7))
	kills, midway := 0, 0
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
	for run := 0; ; run++ {
		if run > 60 {
			t.Fatal("the child never finished")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestProjectionCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "IDEM_PROJECTION_CRASH_DB="+path,
			"IDEM_PROJECTION_CRASH_BATCH="+strconv.Itoa(16+rng.IntN(200)))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill once the child has made progress in this run (so the kill lands while
		// it applies events), after a further random delay.
		killAfter := time.Hour // the last run is let finish
		if kills < 6 {
			before := checkpoint()
			deadline := time.Now().Add(20 * time.Second)
			for checkpoint() == before && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			killAfter = time.Duration(rng.IntN(40)) * time.Millisecond
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child failed: %v", err)
			}
		case <-time.After(killAfter):
			_ = cmd.Process.Kill()
			err := <-done
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				continue // it had just finished
			}
			kills++
			if c := checkpoint(); c > 0 && c < crashEvents {
				midway++
			}
			continue
		}
		break
	}
	if midway < 2 {
		t.Fatalf("only %d of %d kills landed while events were being applied", midway, kills)
	}
	ctx := context.Background()
	want := workload(t, ctx, newStore(t), 42, crashEvents, crashStreams)
	tg, err := sqlitetarget.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	checkExactlyOnce(t, tg.DB(), want)
	if c := checkpoint(); c != crashEvents {
		t.Fatalf("checkpoint %d, want %d", c, crashEvents)
	}
	t.Logf("%d kills, %d in the middle of applying", kills, midway)
}
