package projection_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/internal/crashtest"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// Tx is the transaction type of the tests' target.
type Tx = *sqlitetarget.Tx

// ledger is the projection most tests use: a row per event (entries) and a
// per-stream aggregate (balances). Applying an event twice would show in both.
func ledger(version int) projection.Projection[Tx] {
	return projection.Projection[Tx]{
		Name:    "ledger",
		Version: version,
		Tables:  []string{"balances", "entries"},
		Setup: func(ctx context.Context, tx Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {balances} (stream TEXT PRIMARY KEY, n INTEGER NOT NULL, total INTEGER NOT NULL);
				CREATE TABLE {entries} (event_id TEXT PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, amount INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
			var body struct{ Amount int64 }
			if err := json.Unmarshal(e.Data, &body); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO {entries} (event_id, stream, revision, amount) VALUES (?, ?, ?, ?)`,
				e.ID.String(), e.Stream, e.Revision, body.Amount); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO {balances} (stream, n, total) VALUES (?, 1, ?)
				ON CONFLICT (stream) DO UPDATE SET n = n + 1, total = total + excluded.total`, e.Stream, body.Amount)
			return err
		},
	}
}

func amountEvent(id uuid.UUID, amount int64) eventstore.EventData {
	return eventstore.EventData{ID: id, Type: "Amount", Data: fmt.Appendf(nil, `{"Amount":%d}`, amount)}
}

// workload appends n events over streams streams, chosen by a seeded random source
// (crashtest.Workload), and returns the expected per-stream count and total.
func workload(t testing.TB, ctx context.Context, store eventstore.Store, seed uint64, n, streams int) map[string][2]int64 {
	t.Helper()
	appends, want := crashtest.Workload(seed, n, streams)
	for _, a := range appends {
		if _, err := store.Append(ctx, a.Stream, eventstore.Any(), a.Events...); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// openTarget opens a SQLite target in the test's directory.
func openTarget(t testing.TB, name string) *sqlitetarget.Target {
	t.Helper()
	tg, err := sqlitetarget.Open(context.Background(), filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// openTargetAt opens another target (another connection pool, as another process
// would) on the file at path.
func openTargetAt(t testing.TB, path string) *sqlitetarget.Target {
	t.Helper()
	tg, err := sqlitetarget.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// quick is the retry backoff of the tests' runners: short, so retries cost little.
var quick = projection.WithBackoff(time.Millisecond, 50*time.Millisecond)

func newRunner(t testing.TB, store eventstore.Store, tg *sqlitetarget.Target, opts []projection.Option, ps ...projection.Projection[Tx]) *projection.Runner[Tx] {
	t.Helper()
	r, err := projection.NewRunner(store, tg, append([]projection.Option{quick}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := r.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func opts(o ...projection.Option) []projection.Option { return o }

// balances reads the balances view.
func balances(t testing.TB, db *sql.DB) map[string][2]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT stream, n, total FROM balances`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string][2]int64{}
	for rows.Next() {
		var s string
		var n, total int64
		if err := rows.Scan(&s, &n, &total); err != nil {
			t.Fatal(err)
		}
		got[s] = [2]int64{n, total}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// dump renders every row of the given views, sorted, for comparisons.
func dump(t testing.TB, db *sql.DB, tables ...string) string {
	t.Helper()
	var b strings.Builder
	for _, tb := range tables {
		rows, err := db.Query(`SELECT * FROM ` + tb)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%v", vals))
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&b, "%s (%d rows)\n%s\n", tb, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

func checkExactlyOnce(t testing.TB, db *sql.DB, want map[string][2]int64) {
	t.Helper()
	got := balances(t, db)
	if len(got) != len(want) {
		t.Fatalf("balances has %d streams, want %d", len(got), len(want))
	}
	for s, w := range want {
		if got[s] != w {
			t.Fatalf("stream %s: got (count, total) %v, want %v", s, got[s], w)
		}
	}
	var entries, total int64
	if err := db.QueryRow(`SELECT count(*) FROM entries`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		total += w[0]
	}
	if entries != total {
		t.Fatalf("entries has %d rows, want %d", entries, total)
	}
}

func newStore(t testing.TB) *memory.Store {
	s := memory.New()
	t.Cleanup(func() { s.Close() })
	return s
}

func head(t testing.TB, s *memory.Store) eventstore.Position {
	h, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func statsOf(r *projection.Runner[Tx], name string) projection.Stats {
	for _, s := range r.Stats() {
		if s.Name == name {
			return s
		}
	}
	return projection.Stats{}
}

func statusOf(t testing.TB, r *projection.Runner[Tx], name string) projection.Status {
	t.Helper()
	s, err := r.Status(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkpointOf reads the checkpoint of the active generation of name from the
// target's bookkeeping (0 if there is none).
func checkpointOf(t testing.TB, db *sql.DB, name string) uint64 {
	t.Helper()
	var c uint64
	err := db.QueryRow(`SELECT commit_pos FROM idem_projection_generations WHERE name = ? AND state = 'active'`, name).Scan(&c)
	if err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return c
}
