package demo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// TestMain lets the test binary serve as the demo's worker and projector
// processes: Run re-executes it with RoleEnv set.
func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(ChildMain(context.Background()))
	}
	os.Exit(m.Run())
}

// shortConfig is the demo shortened for CI: fewer messages, more kills, more
// planted key reuses, so that every path shows up in a few seconds.
func shortConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Messages = 1500
	cfg.CrashRate = 0.01
	cfg.KeyReuseRate = 0.03
	cfg.DBPath = filepath.Join(t.TempDir(), "demo.db")
	cfg.Progress = nil
	cfg.Timeout = 3 * time.Minute
	return cfg
}

// TestRunKeepsInvariantsWhileWorkersAreKilled runs the demo's core with real
// child processes killed with SIGKILL: every invariant must hold, and the run must
// really have duplicated, raced, killed and refused what it claims to.
func TestRunKeepsInvariantsWhileWorkersAreKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	rep, err := Run(context.Background(), shortConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Print(&out)
	if !rep.OK() {
		t.Fatalf("invariants violated: %s\n%s", rep.Summary(), out.String())
	}
	b := rep.Broker
	for name, n := range map[string]uint64{
		"workers killed":                 uint64(b.Kills),
		"deliveries raced":               uint64(b.Races),
		"duplicate deliveries":           uint64(b.Duplicates),
		"duplicates by command id":       b.Handler.DuplicatesByID,
		"duplicates by business key":     b.Handler.DuplicatesByKey,
		"key-reuse errors":               b.Handler.KeyReused,
		"commands on a cached aggregate": b.Handler.CacheHits,
		"planted key reuses refused":     uint64(rep.KeyReuseRefused),
		"invoices issued":                uint64(rep.InvoicesIssued),
		"redelivered after kills":        uint64(b.RedeliveredAfterKill),
		"second-path shipment duplica":   uint64(rep.Workload.ShipmentsTwoPaths),
	} {
		if n == 0 {
			t.Errorf("%s: 0, the run did not exercise it\n%s", name, out.String())
		}
	}
	if rep.KeyReuseRefused != len(rep.Workload.Late) {
		t.Errorf("%d of %d planted key reuses refused", rep.KeyReuseRefused, len(rep.Workload.Late))
	}
}

// TestRunOnEventStoreDB runs the demo with the event store on the in-process
// EventStoreDB emulator (the read models stay in SQLite). Workers are still
// killed: the emulator lives in this test process, not in theirs.
func TestRunOnEventStoreDB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	srv := esdbtest.Start(t)
	cfg := shortConfig(t)
	cfg.Messages = 800
	cfg.Backend = srv.URL()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		var out bytes.Buffer
		rep.Print(&out)
		t.Fatalf("invariants violated on EventStoreDB: %s\n%s", rep.Summary(), out.String())
	}
	if rep.Broker.Kills == 0 || rep.InvoicesIssued == 0 {
		t.Errorf("run did nothing worth checking: %d kills, %d invoices", rep.Broker.Kills, rep.InvoicesIssued)
	}
}

// TestRunOnPostgreSQL runs the demo with the event store and the read models on
// PostgreSQL (projection/pgtarget, in a schema beside the events'): the worker
// processes are replicas of one service, each with its own Store and pool on the
// run's schema, killed with SIGKILL mid-run, as is the projector. Every invariant
// must hold, live and rebuilt read models included; the read models are in
// PostgreSQL, not in a SQLite file.
func TestRunOnPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	url := pgtest.URL(t)
	cfg := shortConfig(t)
	cfg.Messages = 1000
	cfg.Backend = url
	// A refund that arrives before its capture is redelivered with a growing delay
	// (at most 160ms) until the capture lands. CI runs this beside the other
	// PostgreSQL packages on the same two cores and server; with 12 attempts (about
	// 1.5s) a slow run gave a refund up before its capture came. 40 attempts wait
	// about 6s: the invariants are the same, only the patience is longer.
	cfg.MaxAttempts = 40
	t.Cleanup(func() {
		pgtest.Drop(t, url, demoSchema(cfg.DBPath))
		pgtest.Drop(t, url, readSchema(cfg.DBPath))
	})
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		var out bytes.Buffer
		rep.Print(&out)
		t.Fatalf("invariants violated on PostgreSQL: %s\n%s", rep.Summary(), out.String())
	}
	if _, err := os.Stat(cfg.DBPath + ".read"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a SQLite read-model file was made (%v): the read models belong in PostgreSQL", err)
	}
	var views int
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM information_schema.views WHERE table_schema = $1`,
		readSchema(cfg.DBPath)).Scan(&views); err != nil || views != 2 {
		t.Errorf("the read models' schema holds %d views (%v), want 2", views, err)
	}
	b := rep.Broker
	if b.Kills == 0 || rep.InvoicesIssued == 0 || b.Races == 0 || b.Handler.DuplicatesByID == 0 {
		t.Errorf("run did nothing worth checking: %d kills, %d invoices, %d races, %d duplicates by id",
			b.Kills, rep.InvoicesIssued, b.Races, b.Handler.DuplicatesByID)
	}
}

// TestPostgresBackendIsAccepted: the config takes postgres:// and postgresql://
// connection strings, and the run's schema is named after its path.
func TestPostgresBackendIsAccepted(t *testing.T) {
	for _, backend := range []string{"postgres://u@h/db", "postgresql://u@h/db?sslmode=disable"} {
		cfg := DefaultConfig()
		cfg.Backend = backend
		if _, err := cfg.withDefaults(); err != nil {
			t.Errorf("%s: %v", backend, err)
		}
	}
	cfg := DefaultConfig()
	cfg.Backend = "mysql://u@h/db"
	if _, err := cfg.withDefaults(); err == nil {
		t.Error("mysql:// accepted")
	}
	if demoSchema("/a/demo.db") == demoSchema("/b/demo.db") || demoSchema("/a/demo.db") != demoSchema("/a/demo.db") {
		t.Error("the schema is not a function of the path")
	}
}
