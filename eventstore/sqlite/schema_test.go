package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// TestReopenKeepsEvents closes a store and opens the file again: the schema is not
// recreated and the events and stream heads are there.
func TestReopenKeepsEvents(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvent("Opened")
	first, err := s.Append(ctx, "account-1", eventstore.NoStream(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if got := streamIDs(t, s, "account-1"); len(got) != 1 || got[0] != ev.ID {
		t.Fatalf("after reopen account-1 holds %v", got)
	}
	// The head survived: the retry is recognised and a conflicting append refused.
	if res, err := s.Append(ctx, "account-1", eventstore.NoStream(), ev); err != nil || res.Revision != first.Revision || res.Position != first.Position || res.Outcome != eventstore.Replayed {
		t.Fatalf("retry after reopen: %+v, %v", res, err)
	}
	if _, err := s.Append(ctx, "account-1", eventstore.NoStream(), newEvent("Opened")); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("conflict after reopen: %v", err)
	}
	second, err := s.Append(ctx, "account-1", eventstore.Exact(0), newEvent("Deposited"))
	if err != nil || second.Revision != 1 || !first.Position.Less(second.Position) {
		t.Fatalf("append after reopen: %+v, %v", second, err)
	}
}

// TestSchemaTooNew opens a file whose schema version is newer than the package
// knows: a typed error, and the file is left as it was.
func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, path)
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}

	_, err = sqlite.Open(ctx, path)
	if !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Fatalf("got %v, want ErrSchemaTooNew", err)
	}
	var ve *sqlite.SchemaVersionError
	if !errors.As(err, &ve) || ve.Found != 99 || ve.Path != path {
		t.Fatalf("got %#v, want a SchemaVersionError for version 99 of %s", err, path)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 99 {
		t.Fatalf("user_version is %d (%v) after the refused open, want 99", v, err)
	}
}

// TestOpenNotADatabase opens a file that is not SQLite: an error matching
// eventstore.ErrCorrupt, not a crash.
func TestOpenNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	junk := make([]byte, 8192)
	for i := range junk {
		junk[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(context.Background(), path)
	if !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

// TestOpenRejectsMemory: an in-memory database would be a different one on every
// connection of the pools.
func TestOpenRejectsMemory(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file::memory:"} {
		if s, err := sqlite.Open(context.Background(), path); err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", path)
		}
	}
}

// TestMigratesPreReleaseVersion1 opens a file of the pre-release schema version 1,
// which kept a streams table of heads: the table is dropped, the version becomes
// the current one, and the stored events keep their heads (read from the events).
func TestMigratesPreReleaseVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	db := rawDB(t, path)
	id := uuid.New()
	for _, q := range []string{
		`CREATE TABLE events (position INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL,
			revision INTEGER NOT NULL, id BLOB NOT NULL, type TEXT NOT NULL, data BLOB, metadata BLOB,
			recorded_at INTEGER NOT NULL, UNIQUE (stream, revision))`,
		`CREATE TABLE streams (name TEXT PRIMARY KEY, last_revision INTEGER NOT NULL, last_position INTEGER NOT NULL) WITHOUT ROWID`,
		`PRAGMA journal_mode = WAL`,
		`PRAGMA user_version = 1`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO events (stream, revision, id, type, recorded_at) VALUES ('old', 0, ?, 'Old', 0)`, id[:]); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v, tables int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v < 2 {
		t.Fatalf("user_version %d (%v), want at least 2", v, err)
	}
	if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'streams'").Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("streams table still there (%d, %v)", tables, err)
	}
	if _, err := s.Append(ctx, "old", eventstore.NoStream(), newEvent("Again")); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("NoStream on the migrated stream: got %v, want a conflict", err)
	}
	if res, err := s.Append(ctx, "old", eventstore.Exact(0), newEvent("Next")); err != nil || res.Revision != 1 {
		t.Fatalf("Exact(0) on the migrated stream: %+v, %v", res, err)
	}
}
