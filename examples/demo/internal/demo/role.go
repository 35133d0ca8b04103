package demo

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	_ "github.com/mattn/go-sqlite3" // the read models' and mail service's databases
	"go.opentelemetry.io/otel/metric"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/esdb"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// RoleEnv is the environment variable that makes a process a worker or the
// projector of a demo run; its value is the role's JSON settings.
const RoleEnv = "IDEM_DEMO_ROLE"

// role is what a child process is told by its parent.
type role struct {
	// Kind is "worker" or "projector".
	Kind        string `json:"kind"`
	Slot        int    `json:"slot"`
	Backend     string `json:"backend"`
	DBPath      string `json:"db"`
	Synchronous string `json:"sync"`
	Consumers   int    `json:"consumers"`
	// Cache: see Config.
	Cache int `json:"cache,omitempty"`
	// Metrics makes the process record idem's metrics and report them with its
	// counters (metrics_child.go).
	Metrics bool `json:"metrics,omitempty"`
}

func (r role) env() string {
	b, _ := json.Marshal(r)
	return RoleEnv + "=" + string(b)
}

// IsChild reports whether this process was started by a demo run as a worker or
// projector. main (and TestMain) call ChildMain when it is true.
func IsChild() bool { return os.Getenv(RoleEnv) != "" }

// ChildMain runs this process's role, reading from standard input and writing to
// standard output until its input ends, and returns the exit code.
func ChildMain(ctx context.Context) int {
	var r role
	if err := json.Unmarshal([]byte(os.Getenv(RoleEnv)), &r); err != nil {
		fmt.Fprintf(os.Stderr, "demo child: bad %s: %v\n", RoleEnv, err)
		return 2
	}
	var err error
	switch r.Kind {
	case "worker":
		err = runWorker(ctx, r)
	case "projector":
		err = runProjector(ctx, r)
	default:
		err = fmt.Errorf("unknown role %q", r.Kind)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo %s %d: %v\n", r.Kind, r.Slot, err)
		return 1
	}
	return 0
}

func runWorker(ctx context.Context, r role) error {
	var m *childMetrics
	if r.Metrics {
		m = newChildMetrics()
	}
	store, err := openStore(ctx, r.Backend, r.DBPath, r.Synchronous, m.meterProvider())
	if err != nil {
		return err
	}
	defer store.Close()
	h, err := newHandlers(store, r.Cache, m)
	if err != nil {
		return err
	}
	return serveWorker(ctx, h, r.Consumers, os.Stdin, os.Stdout)
}

// openStore opens the event store of a run: the SQLite file, PostgreSQL (the
// run's own schema, see demoSchema), or EventStoreDB. mp, if not nil, receives
// the store's commit metrics.
func openStore(ctx context.Context, backend, path, synchronous string, mp metric.MeterProvider) (eventstore.Store, error) {
	if isPostgres(backend) {
		return openPostgres(ctx, backend, path, mp)
	}
	if backend != "sqlite" {
		s, err := esdb.Open(ctx, backend)
		if err != nil {
			return nil, fmt.Errorf("open EventStoreDB %s: %w", backend, err)
		}
		return s, nil
	}
	mode := sqlite.Full
	if strings.EqualFold(synchronous, "NORMAL") {
		mode = sqlite.Normal
	}
	opts := []sqlite.Option{sqlite.WithSynchronous(mode), sqlite.WithPollInterval(20e6)}
	if mp != nil {
		opts = append(opts, sqlite.WithMeterProvider(mp))
	}
	s, err := sqlite.Open(ctx, path, opts...)
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	return s, nil
}

// isPostgres reports whether backend is a PostgreSQL connection string.
func isPostgres(backend string) bool {
	return strings.HasPrefix(backend, "postgres://") || strings.HasPrefix(backend, "postgresql://")
}

// demoSchema is the PostgreSQL schema of a run's events: named after the run's
// DBPath, so that the parent and its worker and projector processes (told the
// same path) meet in it, and two runs with other paths share a database without
// meeting.
func demoSchema(path string) string {
	h := fnv.New64a()
	h.Write([]byte(path))
	return fmt.Sprintf("idem_demo_%016x", h.Sum64())
}

// openPostgres opens the run's schema. The parent, which opens the store before
// it starts any child, first drops what an earlier run with the same path left
// there and in the read models' schema (readSchema), as it replaces the files of
// an earlier SQLite run; the children open the schema as it is. The workers are replicas of one service: each process has its
// own Store and pool on the one schema.
func openPostgres(ctx context.Context, url, path string, mp metric.MeterProvider) (eventstore.Store, error) {
	schema := demoSchema(path)
	if !IsChild() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", postgres.MapError(ctx, "connect", err))
		}
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+", "+
			pgx.Identifier{readSchema(path)}.Sanitize()+" CASCADE")
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: drop the schema of an earlier run: %w", postgres.MapError(ctx, "drop schema", err))
		}
	}
	opts := []postgres.Option{postgres.WithSchema(schema), postgres.WithPollInterval(20 * time.Millisecond)}
	if mp != nil {
		opts = append(opts, postgres.WithMeterProvider(mp))
	}
	s, err := postgres.Open(ctx, url, opts...)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL event store in schema %s: %w", schema, err)
	}
	return s, nil
}

// openSQL opens a SQLite database for read models or the mail service, in WAL
// mode with a busy timeout, so that several processes can share it.
func openSQL(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=10000&_txlock=immediate&_synchronous=FULL")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
