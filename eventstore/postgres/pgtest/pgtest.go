// Package pgtest gives a test a PostgreSQL schema of its own on the server that
// IDEM_POSTGRES_URL names (.ci/postgres.sh starts a throwaway one and prints the
// variable), and drops it when the test ends. Tests never assume an empty server:
// every store lives in a schema named for the test with a random suffix.
//
// Without IDEM_POSTGRES_URL the tests skip, saying so; under CI (CI=true) they
// fail instead, so that a CI run can never pass by skipping them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/eventstore/postgres"
)

// Environment variables .ci/postgres.sh exports.
const (
	// EnvURL names the server the tests use.
	EnvURL = "IDEM_POSTGRES_URL"
	// EnvHome is the folder of the throwaway cluster behind EnvURL.
	EnvHome = "IDEM_POSTGRES_HOME"
	// EnvFaultsURL and EnvFaultsHome name a second throwaway cluster that only
	// the restart test uses: it restarts that one, never the one every other test
	// is using.
	EnvFaultsURL  = "IDEM_POSTGRES_FAULTS_URL"
	EnvFaultsHome = "IDEM_POSTGRES_FAULTS_HOME"
)

// URL returns the test server's connection string, or skips t when EnvURL is
// unset (fails it when CI is set).
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is unset under CI: .ci/run starts a PostgreSQL cluster for these tests; they must not skip", EnvURL)
		}
		t.Skipf("PostgreSQL tests skipped: %s is unset (eval \"$(.ci/postgres.sh start)\" starts a throwaway server)", EnvURL)
	}
	return url
}

// NewSchemaName returns a schema name unique to this test run, made from prefix
// and random bytes. It creates nothing.
func NewSchemaName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(prefix) + "_" + hex.EncodeToString(b[:])
}

// Schema returns a new schema name for t and drops the schema (CASCADE) when t
// ends, after the cleanups registered later (closing the stores in it).
func Schema(t testing.TB) string {
	t.Helper()
	url := URL(t)
	name := NewSchemaName("idem_test")
	t.Cleanup(func() { Drop(t, url, name) })
	return name
}

// Drop drops schema on the server at url, reporting a failure on t.
func Drop(t testing.TB, url, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

// Logger is the logger of the stores Open and OpenSchema make: warnings and
// errors only (every test schema is migrated, which the default logs).
var Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// Open opens a Store in a new schema (see Schema) with opts, and closes it when t
// ends.
func Open(t testing.TB, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	schema := Schema(t)
	return OpenSchema(t, schema, opts...)
}

// OpenSchema opens a Store in schema with opts and closes it when t ends. The
// schema is not dropped: use it for a second store on a schema of Schema.
func OpenSchema(t testing.TB, schema string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), URL(t), append([]postgres.Option{postgres.WithSchema(schema), postgres.WithLogger(Logger)}, opts...)...)
	if err != nil {
		t.Fatalf("open store in schema %s: %v", schema, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Exec runs statements on the server at url, outside any store: tests use it to
// damage rows or hold locks as another tool or process would.
func Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, URL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
