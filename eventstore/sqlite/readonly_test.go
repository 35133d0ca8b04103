package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// fileHash returns the SHA-256 of the file at path.
func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// storeWithEvents creates a store file in dir holding two streams, closed.
func storeWithEvents(t *testing.T, dir string) string {
	t.Helper()
	path := newStoreFile(t, dir)
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stream := range []string{"order-1", "order-2", "order-1"} {
		if _, err := s.Append(t.Context(), stream, eventstore.Any(), newEvent("Placed")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenReadOnlyReadsAndNeverWrites: a store opened read-only reads streams,
// the log, its head and its stream listing; its appends and snapshots fail with
// ErrReadOnly; and the file is byte for byte what it was.
func TestOpenReadOnlyReadsAndNeverWrites(t *testing.T) {
	ctx := t.Context()
	path := storeWithEvents(t, t.TempDir())
	before := fileHash(t, path)
	s, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if ids := streamIDs(t, s, "order-1"); len(ids) != 2 {
		t.Fatalf("order-1 has %d events, want 2", len(ids))
	}
	head, err := s.Head(ctx)
	if err != nil || head.Commit != 3 {
		t.Fatalf("head %v (%v), want position 3", head, err)
	}
	n := 0
	for info, err := range s.Streams(ctx, eventstore.StreamFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if info.Name == "order-1" && info.Events != 2 {
			t.Fatalf("order-1 listed with %d events", info.Events)
		}
	}
	if n != 2 {
		t.Fatalf("listed %d streams, want 2", n)
	}
	_, err = s.Append(ctx, "order-3", eventstore.NoStream(), newEvent("Placed"))
	if !errors.Is(err, sqlite.ErrReadOnly) {
		t.Fatalf("append to a read-only store: %v, want ErrReadOnly", err)
	}
	err = s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "order-1", Revision: 1, Data: []byte("{}")})
	if !errors.Is(err, sqlite.ErrReadOnly) {
		t.Fatalf("snapshot in a read-only store: %v, want ErrReadOnly", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fileHash(t, path) != before {
		t.Fatal("the file changed under a read-only store")
	}
}

// TestOpenReadOnlyOnAReadOnlyFile: a file nobody may write (a backup) opens
// read-only and reads.
func TestOpenReadOnlyOnAReadOnlyFile(t *testing.T) {
	path := storeWithEvents(t, t.TempDir())
	makeReadOnly(t, path)
	s, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ids := streamIDs(t, s, "order-2"); len(ids) != 1 {
		t.Fatalf("order-2 has %d events, want 1", len(ids))
	}
}

// TestOpenReadOnlyRefuses: a missing file is not created, a directory, a file
// that is not a database, another application's database, and stores of another
// schema version are refused with typed errors, and nothing is changed.
func TestOpenReadOnlyRefuses(t *testing.T) {
	for _, c := range []struct {
		name    string
		prepare func(t *testing.T, dir string) string
		want    []error
	}{
		{"missing file", func(t *testing.T, dir string) string { return filepath.Join(dir, "none.db") },
			[]error{fs.ErrNotExist}},
		{"directory", func(t *testing.T, dir string) string { return dir }, []error{fs.ErrInvalid}},
		{"not a database", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "notes.txt")
			writeFile(t, p, []byte("these are not the events you are looking for, not even close to a database header"))
			return p
		}, []error{eventstore.ErrIncompatible}},
		{"another application's database", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "app.db")
			db := rawDB(t, p)
			mustExec(t, db, `CREATE TABLE customers (id TEXT PRIMARY KEY)`)
			db.Close()
			return p
		}, []error{eventstore.ErrIncompatible}},
		{"older schema", func(t *testing.T, dir string) string {
			p := storeWithEvents(t, dir)
			db := rawDB(t, p)
			mustExec(t, db, `PRAGMA user_version = 2`)
			db.Close()
			return p
		}, []error{eventstore.ErrIncompatible, sqlite.ErrSchemaTooOld}},
		{"newer schema", func(t *testing.T, dir string) string {
			p := storeWithEvents(t, dir)
			db := rawDB(t, p)
			mustExec(t, db, `PRAGMA user_version = 99`)
			db.Close()
			return p
		}, []error{eventstore.ErrIncompatible, sqlite.ErrSchemaTooNew}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := c.prepare(t, t.TempDir())
			var before [32]byte
			info, statErr := os.Stat(path)
			if statErr == nil && !info.IsDir() {
				before = fileHash(t, path)
			}
			s, err := sqlite.OpenReadOnly(context.Background(), path)
			if err == nil {
				s.Close()
				t.Fatal("OpenReadOnly succeeded")
			}
			for _, want := range c.want {
				if !errors.Is(err, want) {
					t.Errorf("%v does not match %v", err, want)
				}
			}
			switch {
			case errors.Is(statErr, fs.ErrNotExist):
				if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Error("OpenReadOnly created the missing file")
				}
			case statErr == nil && !info.IsDir():
				if fileHash(t, path) != before {
					t.Error("the refused file changed")
				}
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}
