package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	_ "github.com/mattn/go-sqlite3" // the driver idem's backend and the peers use
)

// Synchronous is SQLite's synchronous pragma: FULL (idem's default, an fsync per
// commit) or NORMAL (WAL commits are durable at checkpoints only).
type Synchronous string

// The two settings the harness measures.
const (
	SyncFull   Synchronous = "FULL"
	SyncNormal Synchronous = "NORMAL"
)

// rawSchema is the events table the raw baselines write: the same table as idem's
// SQLite backend (eventstore/sqlite/schema.go, schema version 2), which is the only
// table idem writes: one row per event, the global position as rowid,
// UNIQUE(stream, revision) as the stream index, no global index on ids. Both idem
// and the raw revision check read a stream's head (its last revision) from that
// index; TestRawSchemaIsIdemsEventsTable keeps the two in step.
const rawSchema = `
CREATE TABLE IF NOT EXISTS events (
	position    INTEGER PRIMARY KEY AUTOINCREMENT,
	stream      TEXT    NOT NULL,
	revision    INTEGER NOT NULL,
	id          BLOB    NOT NULL,
	type        TEXT    NOT NULL,
	data        BLOB,
	metadata    BLOB,
	recorded_at INTEGER NOT NULL,
	UNIQUE (stream, revision)
);`

const rawInsert = `INSERT INTO events (stream, revision, id, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)`

const rawSelectColumns = `SELECT position, stream, revision, id, type, data, metadata, recorded_at FROM events`

// Payloads of the size idem writes: a small JSON event and metadata that carries
// the command id, fingerprint, correlation and causation ids (G3).
var (
	eventData     = []byte(`{"amount":100,"reference":"ref-000001"}`)
	eventMetadata = []byte(`{"command_id":"4f6d2b9e-8c1a-4b7e-9f3d-2a6c8e1b5d7f","fingerprint":"sha256:9b74c9897bac770ffc029102a200c5de5d7f3a1e","correlation_id":"4f6d2b9e-8c1a-4b7e-9f3d-2a6c8e1b5d7f","causation_id":"4f6d2b9e-8c1a-4b7e-9f3d-2a6c8e1b5d7f"}`)
)

// sqliteDSN is the go-sqlite3 connection string with the pragmas idem's backend
// uses: WAL, the given synchronous, a busy timeout, and txlock (immediate for
// BEGIN IMMEDIATE, "" for go-sqlite3's plain BEGIN).
func sqliteDSN(path string, sync Synchronous, txlock string) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", string(sync))
	q.Set("_busy_timeout", "5000")
	if txlock != "" {
		q.Set("_txlock", txlock)
	}
	return "file:" + path + "?" + q.Encode()
}

// openRaw opens a fresh database at path with idem's pragmas and BEGIN IMMEDIATE,
// and creates the raw events table.
func openRaw(ctx context.Context, path string, sync Synchronous) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", sqliteDSN(path, sync, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("open raw sqlite %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, rawSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create raw schema in %s: %w", path, err)
	}
	return db, nil
}

// dbCounter names fresh database files within a run.
var dbCounter atomic.Int64

// freshPath returns a path for a new database file in the run's directory.
func (e *Env) freshPath(name string) string {
	return filepath.Join(e.Dir, fmt.Sprintf("%s-%d.db", strings.ReplaceAll(name, "/", "_"), dbCounter.Add(1)))
}

// streamName is the name of the i-th benchmark aggregate's stream.
func streamName(i int) string { return fmt.Sprintf("account-%06d", i) }

// seedRaw writes events in 1000-row transactions: perStream events to each of
// streams streams, interleaved as real traffic would be.
func seedRaw(ctx context.Context, db *sql.DB, streams, perStream int) error {
	total := streams * perStream
	now := time.Now().UnixNano()
	for done := 0; done < total; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("seed raw events: %w", err)
		}
		stmt, err := tx.PrepareContext(ctx, rawInsert)
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("seed raw events: %w", err)
		}
		for end := min(total, done+1000); done < end; done++ {
			s, rev := done%streams, done/streams
			if _, err := stmt.ExecContext(ctx, streamName(s), rev, newID(), "Deposited", eventData, eventMetadata, now); err != nil {
				tx.Rollback()
				return fmt.Errorf("seed raw events: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("seed raw events: %w", err)
		}
	}
	return nil
}

// newID is a random (v4) event id, as idem's handler derives ids that are not
// time-ordered (UUIDv5 of the command id).
func newID() []byte {
	id := uuid.New()
	return id[:]
}

// fixture returns the path of the database named name, building it with build on
// first use. Read-only workloads share fixtures across their repeated runs, so
// only the first run pays for the data.
func (e *Env) fixture(ctx context.Context, name string, build func(ctx context.Context, path string) error) (string, error) {
	if p, ok := e.fixtures[name]; ok {
		return p, nil
	}
	p := e.freshPath(name)
	if err := build(ctx, p); err != nil {
		return "", fmt.Errorf("build fixture %s: %w", name, err)
	}
	if e.fixtures == nil {
		e.fixtures = map[string]string{}
	}
	e.fixtures[name] = p
	return p, nil
}
