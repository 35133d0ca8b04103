package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/esdb"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// storeKind is the kind of event store a --store value names.
type storeKind uint8

const (
	sqliteStore storeKind = iota + 1
	esdbStore
	postgresStore
)

// parseStore tells which kind of store url names, and for SQLite its path: a
// path, sqlite:PATH or file:PATH (a leading "//" dropped), an esdb://,
// esdb+discover://, kurrentdb:// or kurrentdb+discover:// URL, or a postgres://
// or postgresql:// URL. Any other scheme is a usage error.
func parseStore(url string) (storeKind, string, error) {
	if url == "" {
		return 0, "", usagef("no event store: give --store (a SQLite path, an esdb:// or a postgres:// URL)")
	}
	scheme, _, hasScheme := strings.Cut(url, "://")
	for _, p := range []string{"sqlite:", "file:"} {
		if rest, ok := strings.CutPrefix(url, p); ok {
			return sqliteStore, strings.TrimPrefix(rest, "//"), nil
		}
	}
	if !hasScheme {
		return sqliteStore, url, nil
	}
	switch strings.ToLower(scheme) {
	case "esdb", "esdb+discover", "kurrentdb", "kurrentdb+discover":
		return esdbStore, url, nil
	case "postgres", "postgresql":
		return postgresStore, url, nil
	default:
		return 0, "", usagef("--store: unknown scheme %q: want a SQLite path, sqlite:PATH, esdb:// / kurrentdb://, or postgres://", scheme)
	}
}

// openStore opens the store url names, read-only unless writable. A SQLite file
// must exist: the tool never creates a store.
func openStore(ctx context.Context, url string, writable bool, log *slog.Logger) (eventstore.Store, error) {
	kind, path, err := parseStore(url)
	if err != nil {
		return nil, err
	}
	switch kind {
	case postgresStore:
		return openPostgresStore(ctx, path, writable, log)
	case esdbStore:
		s, err := esdb.Open(ctx, path, esdb.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("open event store %s: %w", url, err)
		}
		return s, nil
	}
	if err := mustExist("event store", path); err != nil {
		return nil, err
	}
	if !writable {
		s, err := sqlite.OpenReadOnly(ctx, path, sqlite.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("open event store: %w", err)
		}
		return s, nil
	}
	s, err := sqlite.Open(ctx, path, sqlite.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("open event store for writing: %w", err)
	}
	return s, nil
}

// mustExist fails, clearly, unless path names an existing file.
func mustExist(what, path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %s: no such file", what, path)
	case err != nil:
		return fmt.Errorf("%s %s: %w", what, path, err)
	case info.IsDir():
		return fmt.Errorf("%s %s: a directory, not a database file", what, path)
	}
	return nil
}
