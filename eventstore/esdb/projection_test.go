package esdb_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/esdb"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// feedChildEnv carries a feedChild configuration (JSON) from the parent test to
// the child process: the emulator's URL, the SQLite target's path, the batch size,
// and whether to run live (until killed) or catch up and exit.
const feedChildEnv = "IDEM_ESDB_PROJECTION_CHILD"

const (
	feedProjectionName = "esdb_feed"
	feedStreams        = 20
	feedInitialEvents  = 2000
	feedKills          = 6
)

type feedChild struct {
	URL     string `json:"url"`
	DB      string `json:"db"`
	Batch   int    `json:"batch"`
	CatchUp bool   `json:"catchUp"`
}

// feedProjection writes one row per event (applied, no unique key, so a double
// apply shows as a duplicate row instead of failing the handler) and a per-stream
// counter (counters): after a clean run, rows == counters == events.
func feedProjection() projection.Projection[*sqlitetarget.Tx] {
	return projection.Projection[*sqlitetarget.Tx]{
		Name:           feedProjectionName,
		Version:        1,
		Tables:         []string{"applied", "counters"},
		StreamPrefixes: []string{"acct-"}, // filtered on the server: checkpoints, system events skipped
		Setup: func(ctx context.Context, tx *sqlitetarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {applied} (event_id TEXT NOT NULL, stream TEXT NOT NULL, revision INTEGER NOT NULL, commit_pos INTEGER NOT NULL);
				CREATE TABLE {counters} (stream TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
			// Spend time between the writes and the commit, so that kills land inside
			// a batch's transaction, not only between batches.
			time.Sleep(50 * time.Microsecond)
			if _, err := tx.Exec(ctx, `INSERT INTO {applied} (event_id, stream, revision, commit_pos) VALUES (?, ?, ?, ?)`,
				e.ID.String(), e.Stream, int64(e.Revision), int64(e.Position.Commit)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO {counters} (stream, n) VALUES (?, 1)
				ON CONFLICT (stream) DO UPDATE SET n = n + 1`, e.Stream)
			return err
		},
	}
}

// TestProjectionFromESDBChild is the child process of
// TestProjectionFromESDBExactlyOnceAcrossCrashes: it runs the projection from the
// parent's emulator into the SQLite target, live until killed, or until caught up.
func TestProjectionFromESDBChild(t *testing.T) {
	raw := os.Getenv(feedChildEnv)
	if raw == "" {
		t.Skip("child process of TestProjectionFromESDBExactlyOnceAcrossCrashes")
	}
	var cfg feedChild
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("child configuration %q: %v", raw, err)
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := esdb.Open(ctx, cfg.URL, esdb.WithLogger(logger), esdb.WithResubscribeBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tg, err := sqlitetarget.Open(ctx, cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	r, err := projection.NewRunner(store, tg,
		projection.WithBatchSize(cfg.Batch),
		projection.WithCatchUpBatchSize(cfg.Batch),
		projection.WithBackoff(5*time.Millisecond, time.Second),
		projection.WithLogger(logger),
		projection.WithoutLagRefresh(), // no periodic lag reads of $all: they prove nothing here
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(feedProjection()); err != nil {
		t.Fatal(err)
	}
	if cfg.CatchUp {
		err = r.CatchUp(ctx)
	} else {
		err = r.Run(ctx) // returns only on failure: the parent kills it
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A projection fed from EventStoreDB into SQLite keeps its checkpoint in the SQLite
// transaction (G8). The parent owns an emulated server and appends through the esdb
// backend; child processes run the projection and are killed with SIGKILL at random
// moments (after they have committed at least one batch in their run), while more
// events are appended between and during runs, and the server drops the running
// subscription once. A last child catches up. Every event is then applied exactly
// once, the checkpoint in SQLite is the last event's position, and nothing was
// written to the server by the projection.
func TestProjectionFromESDBExactlyOnceAcrossCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Log("coverage: emulated wire protocol (eventstore/esdb/esdbtest), not verified against a real EventStoreDB/KurrentDB server")
	srv := esdbtest.Start(t)
	ctx := context.Background()
	store, err := esdb.Open(ctx, srv.URL(), esdb.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	path := filepath.Join(t.TempDir(), "read.db")
	rng := rand.New(rand.NewPCG(2113, 8))
	w := &feedWriter{t: t, store: store, rng: rng, next: map[string]uint64{}, want: map[uuid.UUID]string{}}
	w.append(ctx, feedInitialEvents)

	checkpoint := func() eventstore.Position { return feedCheckpoint(t, path) }
	kills, midway, drops, resubscriptions, dropRun := 0, 0, 0, 0, 1
	for run := 0; kills < feedKills; run++ {
		if run >= 3*feedKills {
			t.Fatalf("%d runs for %d kills: children keep exiting on their own", run, kills)
		}
		if run > 0 {
			w.append(ctx, 100+rng.IntN(100)) // between kills: no child is running
		}
		before := checkpoint()
		c := startFeedChild(t, feedChild{URL: srv.URL(), DB: path, Batch: 16 + rng.IntN(113)})
		c.waitFor("the checkpoint to move", func() bool { return checkpoint().Compare(before) > 0 })
		w.append(ctx, 10+rng.IntN(20)) // while the child runs: live events
		if run == dropRun {
			// Drop the subscription while the child still has events to read. The
			// emulator notices a drop only once it has sent what it read, and can
			// miss it when new events wake the subscription at the same moment (both
			// ready in one select), so the drop is repeated until the child reports
			// it; drops that miss end nothing.
			for !c.logged("resubscribing", 2*time.Second) {
				if drops == 20 {
					t.Fatalf("the child never reported a dropped subscription after %d drops:\n%s", drops, c.stderr.tail())
				}
				srv.DropSubscriptions()
				drops++
			}
			w.append(ctx, 10)
			after := w.last // appended after the resubscription began
			c.waitFor("the child to apply events appended after the resubscription", func() bool {
				return checkpoint().Compare(after) >= 0
			})
			w.append(ctx, 50) // work in progress for the kill to land in
			resubscriptions = strings.Count(c.stderr.String(), "resubscribing")
		}
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		c.kill()
		kills++
		if checkpoint().Compare(w.last) < 0 {
			midway++ // killed with events left to apply: in or between batches
		}
	}
	if midway < 3 {
		t.Fatalf("only %d of %d kills landed while the child had events left to apply", midway, kills)
	}

	final := startFeedChild(t, feedChild{URL: srv.URL(), DB: path, Batch: 128, CatchUp: true})
	final.wait(60 * time.Second)

	tg, err := sqlitetarget.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	checkFeedExactlyOnce(t, tg.DB(), w)
	if got := checkpoint(); got != w.last {
		t.Fatalf("checkpoint in SQLite is %v, want the last event's position %v", got, w.last)
	}
	if head, err := store.Head(ctx); err != nil || head != w.last {
		t.Fatalf("head of $all is %v (%v), want the last appended position %v", head, err, w.last)
	}
	checkNothingOnServer(t, ctx, store, srv, w)
	t.Logf("%d events over %d streams, %d kills (%d with events left to apply), subscription drops seen by the child: %d (DropSubscriptions calls: %d); every event applied once",
		len(w.want), feedStreams, kills, midway, resubscriptions, drops)
}

// feedWriter appends events over feedStreams streams through the esdb backend, with
// NoStream or Exact expected revisions, and remembers what it wrote.
type feedWriter struct {
	t       *testing.T
	store   *esdb.Store
	rng     *rand.Rand
	next    map[string]uint64    // stream -> next revision
	want    map[uuid.UUID]string // event id -> stream
	last    eventstore.Position  // position of the last event appended
	appends int                  // appends that wrote events
}

func (w *feedWriter) append(ctx context.Context, n int) {
	w.t.Helper()
	for i := 0; i < n; {
		s := fmt.Sprintf("acct-%02d", w.rng.IntN(feedStreams))
		k := min(1+w.rng.IntN(4), n-i)
		evs := make([]eventstore.EventData, k)
		for j := range evs {
			evs[j] = eventstore.EventData{ID: uuid.New(), Type: "Deposited", Data: fmt.Appendf(nil, `{"n":%d}`, len(w.want)+j)}
		}
		expected := eventstore.NoStream()
		if rev, ok := w.next[s]; ok {
			expected = eventstore.Exact(rev - 1)
		}
		res, err := w.store.Append(ctx, s, expected, evs...)
		if err != nil {
			w.t.Fatalf("append %d events to %s: %v", k, s, err)
		}
		for _, e := range evs {
			w.want[e.ID] = s
		}
		w.next[s] = res.Revision + 1
		w.last = res.Position
		w.appends++
		i += k
	}
}

// feedCheckpoint reads the projection's checkpoint from the target (Start before
// the child has created it).
func feedCheckpoint(t *testing.T, path string) eventstore.Position {
	t.Helper()
	tg, err := sqlitetarget.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	var c, p int64
	err = tg.DB().QueryRow(`SELECT commit_pos, prepare_pos FROM idem_projection_generations WHERE name = ? AND generation = 1`,
		feedProjectionName).Scan(&c, &p)
	if err != nil {
		return eventstore.Start() // no bookkeeping yet
	}
	return eventstore.Position{Commit: uint64(c), Prepare: uint64(p)}
}

// checkFeedExactlyOnce checks the read model: one row per event appended, no
// duplicate, counters that add up, and the per-stream guard at each stream's end.
func checkFeedExactlyOnce(t *testing.T, db *sql.DB, w *feedWriter) {
	t.Helper()
	var rows, distinct, counted int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT event_id) FROM applied`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT coalesce(sum(n), 0) FROM counters`).Scan(&counted); err != nil {
		t.Fatal(err)
	}
	if rows != len(w.want) || distinct != rows || counted != rows {
		t.Fatalf("applied %d rows (%d distinct event ids), counters sum %d; want %d events each applied once",
			rows, distinct, counted, len(w.want))
	}
	res, err := db.Query(`SELECT event_id, stream FROM applied`)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	perStream := map[string]int{}
	for res.Next() {
		var id, stream string
		if err := res.Scan(&id, &stream); err != nil {
			t.Fatal(err)
		}
		if s, ok := w.want[uuid.MustParse(id)]; !ok || s != stream {
			t.Fatalf("applied event %s of %s, which was not appended there", id, stream)
		}
		perStream[stream]++
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	for s, next := range w.next {
		var n int
		if err := db.QueryRow(`SELECT n FROM counters WHERE stream = ?`, s).Scan(&n); err != nil {
			t.Fatalf("counter of %s: %v", s, err)
		}
		if n != int(next) || perStream[s] != int(next) {
			t.Fatalf("stream %s: counter %d, %d rows; want %d", s, n, perStream[s], next)
		}
		var guard int64
		if err := db.QueryRow(`SELECT revision FROM idem_projection_guards WHERE name = ? AND generation = 1 AND stream = ?`,
			feedProjectionName, s).Scan(&guard); err != nil || uint64(guard) != next-1 {
			t.Fatalf("stream %s: guard revision %d (%v), want %d", s, guard, err, next-1)
		}
	}
}

// checkNothingOnServer checks that the projection kept nothing on the EventStoreDB
// side: the server counted only the parent's appends, and $all holds only the
// parent's events.
func checkNothingOnServer(t *testing.T, ctx context.Context, store *esdb.Store, srv *esdbtest.Server, w *feedWriter) {
	t.Helper()
	if got := srv.Appends(); got != w.appends {
		t.Fatalf("the server counted %d appends, the test made %d: something else wrote to it", got, w.appends)
	}
	n := 0
	for e, err := range store.ReadAll(ctx, eventstore.Start()) {
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := w.want[e.ID]; !ok || s != e.Stream {
			t.Fatalf("$all holds event %s in %s (type %s), which the test did not append", e.ID, e.Stream, e.Type)
		}
		n++
	}
	if n != len(w.want) {
		t.Fatalf("$all holds %d user events, want %d", n, len(w.want))
	}
}

// feedProcess is a running child.
type feedProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	done   chan error
	stderr *lockedBuffer
	ended  bool // its exit was collected from done
}

func startFeedChild(t *testing.T, cfg feedChild) *feedProcess {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProjectionFromESDBChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), feedChildEnv+"="+string(raw))
	p := &feedProcess{t: t, cmd: cmd, done: make(chan error, 1), stderr: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if !p.ended {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitFor polls cond until it holds; it fails if the child exits or 20 s pass.
func (p *feedProcess) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		select {
		case err := <-p.done:
			p.done <- err
			p.t.Fatalf("child exited (%v) while waiting for %s:\n%s", err, what, p.stderr.tail())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s:\n%s", what, p.stderr.tail())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// logged reports whether the child's output contains substr, waiting up to d for it.
func (p *feedProcess) logged(substr string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if strings.Contains(p.stderr.String(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// kill sends SIGKILL and checks the child died of it (a live Run never exits).
func (p *feedProcess) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	err := <-p.done
	p.ended = true
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Exited() {
		p.t.Fatalf("child was not killed but ended (%v):\n%s", err, p.stderr.tail())
	}
}

// wait waits for the child to exit successfully.
func (p *feedProcess) wait(timeout time.Duration) {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.ended = true
		if err != nil {
			p.t.Fatalf("child failed: %v\n%s", err, p.stderr.tail())
		}
	case <-time.After(timeout):
		p.t.Fatalf("child did not catch up within %v:\n%s", timeout, p.stderr.tail())
	}
}

// lockedBuffer is a bytes.Buffer the child's output can be written to while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
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

func (b *lockedBuffer) tail() string {
	s := b.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}
