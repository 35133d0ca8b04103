package sqlite_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// TestOpenPathProblems: a missing directory, or a path that names a directory,
// used to fail as ErrUnavailable ("outcome unknown, retrying is safe"). They are
// typed, non-retryable errors now, whose message says what is wrong and quotes at
// most a few hundred bytes of the path.
func TestOpenPathProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, strings.Repeat("d", 10_000), "events.db")
	for _, c := range []struct {
		name, path string
		want       error
		mentions   string
	}{
		{"missing directory", filepath.Join(dir, "missing", "events.db"), fs.ErrNotExist, "does not exist"},
		{"long missing directory", long, fs.ErrNotExist, "does not exist"},
		{"a file in the directory path", filepath.Join(file, "events.db"), fs.ErrNotExist, "not a directory"},
		{"a directory", dir, fs.ErrInvalid, "is a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), c.path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, c.want) || errors.Is(err, eventstore.ErrUnavailable) {
				t.Fatalf("got %v, want an error matching %v and not ErrUnavailable", err, c.want)
			}
			if !strings.Contains(err.Error(), c.mentions) {
				t.Fatalf("%q does not say %q", err, c.mentions)
			}
			if len(err.Error()) > 1000 {
				t.Fatalf("the message is %d bytes long", len(err.Error()))
			}
		})
	}
}

// TestOpenReadOnly: a store file, or its directory, that cannot be written (a
// read-only file or mount) used to open without complaint, with every append
// then failing as ErrUnavailable, or to fail with "no such file or directory".
// Open now fails with an error matching sqlite.ErrReadOnly that says so.
func TestOpenReadOnly(t *testing.T) {
	for _, c := range []struct {
		name string
		// prepare makes the situation in dir and returns the path to open.
		prepare func(t *testing.T, dir string) string
	}{
		{"read-only store file", func(t *testing.T, dir string) string {
			path := newStoreFile(t, dir)
			makeReadOnly(t, path)
			return path
		}},
		{"new file in a read-only directory", func(t *testing.T, dir string) string {
			makeReadOnly(t, dir)
			return filepath.Join(dir, "events.db")
		}},
		{"store file in a read-only directory", func(t *testing.T, dir string) string {
			path := newStoreFile(t, dir)
			makeReadOnly(t, dir)
			return path
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := c.prepare(t, t.TempDir())
			s, err := sqlite.Open(t.Context(), path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a file it cannot write")
			}
			if !errors.Is(err, sqlite.ErrReadOnly) || errors.Is(err, eventstore.ErrUnavailable) {
				t.Fatalf("got %v, want an error matching ErrReadOnly and not ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), "read-only") || strings.Contains(err.Error(), "no such file") {
				t.Fatalf("%q does not say the file is read-only", err)
			}
		})
	}
}

// newStoreFile creates a store file in dir, closed, with no WAL files left
// beside it, and returns its path.
func newStoreFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "events.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return path
}

// makeReadOnly makes path (a file or a directory) impossible to write for this
// process until the test ends: by its permissions, or, for root, whom permissions
// do not stop, with the immutable attribute (chattr +i). The test is skipped when
// neither works here.
func makeReadOnly(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, info.Mode().Perm()&^0o222); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(path, info.Mode().Perm()) })
		return
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("cannot make %s read-only as root: chattr +i: %v: %s", path, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v: %s", path, err, out)
		}
	})
}
