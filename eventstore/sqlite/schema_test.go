package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

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
	first, err := s.Append(ctx, "account-1", eventstore.NoStream, ev)
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
	if res, err := s.Append(ctx, "account-1", eventstore.NoStream, ev); err != nil || res != first {
		t.Fatalf("retry after reopen: %+v, %v", res, err)
	}
	if _, err := s.Append(ctx, "account-1", eventstore.NoStream, newEvent("Opened")); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
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
