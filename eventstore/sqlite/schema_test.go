package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
// eventstore.ErrIncompatible (retrying will not help), not a crash.
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
	if !errors.Is(err, eventstore.ErrIncompatible) || errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("got %v, want ErrIncompatible", err)
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

// TestOpenSchemaVersionOutOfRange: a PRAGMA user_version outside 0..the current
// version made Open panic (a negative one indexed the migrations before their
// start). A negative one is a foreign or damaged file, a larger one a newer
// schema: both are typed errors matching eventstore.ErrIncompatible, and the file
// is left as it was.
func TestOpenSchemaVersionOutOfRange(t *testing.T) {
	for _, c := range []struct {
		version int
		tooNew  bool
	}{{-1, false}, {-2147483648, false}, {4, true}, {2147483647, true}} {
		t.Run(strconv.Itoa(c.version), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			db := rawDB(t, path)
			if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", c.version)); err != nil {
				t.Fatal(err)
			}
			before := fileBytes(t, path)
			_, err = sqlite.Open(t.Context(), path)
			var ve *sqlite.SchemaVersionError
			if !errors.As(err, &ve) || ve.Found != c.version || !errors.Is(err, eventstore.ErrIncompatible) {
				t.Fatalf("got %v, want a SchemaVersionError for version %d matching ErrIncompatible", err, c.version)
			}
			if errors.Is(err, sqlite.ErrSchemaTooNew) != c.tooNew || errors.Is(err, eventstore.ErrUnavailable) {
				t.Fatalf("%v: ErrSchemaTooNew %v, want %v; and never ErrUnavailable", err, errors.Is(err, sqlite.ErrSchemaTooNew), c.tooNew)
			}
			if !bytes.Equal(fileBytes(t, path), before) {
				t.Fatal("the refused open changed the file")
			}
		})
	}
}

// TestOpenRefusesForeignEventsTable: a file that already has an events table of
// another shape used to fail with ErrUnavailable ("table events already exists"),
// or, at a schema version of ours, to open and fail later. Open checks the table's
// columns and its UNIQUE(stream, revision) index and refuses a foreign one with
// an error matching eventstore.ErrIncompatible, changing nothing: not even the
// journal mode.
func TestOpenRefusesForeignEventsTable(t *testing.T) {
	const ours = `CREATE TABLE events (position INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL,
		revision INTEGER NOT NULL, id BLOB NOT NULL, type TEXT NOT NULL, data BLOB, metadata BLOB,
		recorded_at INTEGER NOT NULL, UNIQUE (stream, revision))`
	for _, c := range []struct {
		name    string
		schema  []string
		version int
	}{
		{"another application's table", []string{`CREATE TABLE events (id INTEGER PRIMARY KEY, title TEXT, starts_at TEXT)`}, 0},
		{"another application's table at our version", []string{`CREATE TABLE events (id INTEGER PRIMARY KEY, title TEXT)`}, 2},
		{"our version without the table", []string{`CREATE TABLE other (x)`}, 2},
		{"no unique index", []string{strings.Replace(ours, ", UNIQUE (stream, revision)", "", 1)}, 2},
		{"unique index on other columns", []string{strings.Replace(ours, "UNIQUE (stream, revision)", "UNIQUE (revision, stream)", 1)}, 2},
		{"partial unique index", []string{strings.Replace(ours, ", UNIQUE (stream, revision)", "", 1),
			`CREATE UNIQUE INDEX by_stream ON events (stream, revision) WHERE revision >= 0`}, 2},
		{"revision of another type", []string{strings.Replace(ours, "revision INTEGER", "revision TEXT", 1)}, 2},
		{"stream may be NULL", []string{strings.Replace(ours, "stream TEXT NOT NULL", "stream TEXT", 1)}, 2},
		{"stream compared without case", []string{strings.Replace(ours, "stream TEXT NOT NULL", "stream TEXT NOT NULL COLLATE NOCASE", 1)}, 2},
		{"an extra column", []string{strings.Replace(ours, "recorded_at INTEGER NOT NULL,", "recorded_at INTEGER NOT NULL, tenant TEXT NOT NULL,", 1)}, 2},
		{"a column missing", []string{strings.Replace(ours, "metadata BLOB,", "", 1)}, 2},
		{"positions may be reused", []string{strings.Replace(ours, " AUTOINCREMENT", "", 1)}, 2},
		{"a view", []string{`CREATE TABLE t (x)`, `CREATE VIEW events AS SELECT x AS position FROM t`}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			db := rawDB(t, path)
			for _, q := range append(c.schema, fmt.Sprintf("PRAGMA user_version = %d", c.version)) {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			db.Close()
			before := fileBytes(t, path)
			s, err := sqlite.Open(t.Context(), path)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted a foreign events table")
			}
			if !errors.Is(err, eventstore.ErrIncompatible) || errors.Is(err, eventstore.ErrUnavailable) {
				t.Fatalf("got %v, want an error matching ErrIncompatible and not ErrUnavailable", err)
			}
			if !bytes.Equal(fileBytes(t, path), before) {
				t.Fatal("the refused open changed the file")
			}
			if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the refused open left a WAL file (%v)", err)
			}
		})
	}
}

// TestOpenAdoptsEventsTableOfOurShape: a file at schema version 0 whose events
// table is exactly the one this package creates (made by hand from schema.go, say)
// is taken as it is, its events kept.
func TestOpenAdoptsEventsTableOfOurShape(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	db := rawDB(t, path)
	id := uuid.New()
	for _, q := range []string{
		`CREATE TABLE events (position INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL,
			revision INTEGER NOT NULL, id BLOB NOT NULL, type TEXT NOT NULL, data BLOB, metadata BLOB,
			recorded_at INTEGER NOT NULL, UNIQUE (stream, revision))`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO events (stream, revision, id, type, recorded_at) VALUES ('kept', 0, ?, 'Old', 0)`, id[:]); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := streamIDs(t, s, "kept"); len(got) != 1 || got[0] != id {
		t.Fatalf("kept holds %v, want [%s]", got, id)
	}
}

// fileBytes returns the content of the file at path.
func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenKeepsOtherTables: the file may hold other code's tables. Creating the
// schema in a file new to this package used to run every migration, the one that
// drops the pre-release streams table included, and so dropped a table of that
// name that was someone else's.
func TestOpenKeepsOtherTables(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	db := rawDB(t, path)
	for _, q := range []string{`CREATE TABLE streams (name TEXT PRIMARY KEY, owner TEXT)`, `INSERT INTO streams VALUES ('s', 'someone else')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var owner string
	if err := db.QueryRow(`SELECT owner FROM streams WHERE name = 's'`).Scan(&owner); err != nil || owner != "someone else" {
		t.Fatalf("the other table's row: %q, %v", owner, err)
	}
}
