package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// row is one row of the events table as raw values, by column name: nil is NULL,
// int64 INTEGER, float64 REAL, string TEXT and []byte BLOB. A row without
// "position" gets the next one from AUTOINCREMENT.
type row map[string]any

// eventColumns are the columns of the events table, in order.
var eventColumns = []string{"position", "stream", "revision", "id", "type", "data", "metadata", "recorded_at"}

// validRow is the row the store would write for an event of stream at revision.
func validRow(stream string, revision int64) row {
	id := uuid.New()
	return row{
		"stream":      stream,
		"revision":    revision,
		"id":          id[:],
		"type":        "Written",
		"data":        []byte(`{"n":1}`),
		"metadata":    []byte(`{"m":2}`),
		"recorded_at": int64(1_700_000_000_000_000_000),
	}
}

// with returns a copy of r with column set to v.
func (r row) with(column string, v any) row {
	out := make(row, len(r)+1)
	for k, x := range r {
		out[k] = x
	}
	out[column] = v
	return out
}

// relaxedEvents declares the events table with no type affinity and no NOT NULL
// constraint, so that any value keeps its storage class; the UNIQUE constraint
// stays, so that the table keeps its index.
const relaxedEvents = `CREATE TABLE events (position INTEGER PRIMARY KEY AUTOINCREMENT, stream, revision, id, type, data, metadata, recorded_at, UNIQUE (stream, revision))`

// writeRawRow inserts r into the events table of the file at path behind the
// store's back, failing the test on an error; see insertRawRow.
func writeRawRow(t testing.TB, path string, r row) int64 {
	t.Helper()
	pos, err := insertRawRow(path, r)
	if err != nil {
		t.Fatalf("raw write to %s: %v", path, err)
	}
	return pos
}

// insertRawRow inserts r into the events table of the file at path behind the
// store's back, as a damaged file or a foreign tool could leave it: each value
// keeps its storage class exactly, although the column's affinity would convert
// it (an INTEGER in stream would become TEXT) or its NOT NULL constraint refuse
// it. To get there, the table's declaration is relaxed while the row is written,
// then restored word for word, each step in its own connection so that every
// connection (the store's too) reloads the schema. It returns the row's position.
func insertRawRow(path string, r row) (int64, error) {
	var original string
	err := withRawConn(path, func(c *sql.Conn) error {
		if err := c.QueryRowContext(context.Background(), "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'events'").Scan(&original); err != nil {
			return err
		}
		return setEventsDeclaration(c, relaxedEvents)
	})
	if err != nil {
		return 0, err
	}
	var pos int64
	insertErr := withRawConn(path, func(c *sql.Conn) error {
		var cols, marks []string
		var args []any
		for _, name := range eventColumns {
			if v, ok := r[name]; ok {
				cols = append(cols, name)
				marks = append(marks, "?")
				args = append(args, v)
			}
		}
		q := "INSERT INTO events (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(marks, ", ") + ")"
		res, err := c.ExecContext(context.Background(), q, args...)
		if err != nil {
			return fmt.Errorf("%s %v: %w", q, args, err)
		}
		pos, err = res.LastInsertId()
		return err
	})
	err = withRawConn(path, func(c *sql.Conn) error { return setEventsDeclaration(c, original) })
	return pos, errors.Join(insertErr, err)
}

// setEventsDeclaration replaces the events table's declaration in the schema and
// bumps the schema version, which makes other connections reload it.
func setEventsDeclaration(c *sql.Conn, declaration string) error {
	ctx := context.Background()
	var version int64
	for _, q := range []string{"BEGIN IMMEDIATE", "PRAGMA writable_schema = ON"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if _, err := c.ExecContext(ctx, "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'events'", declaration); err != nil {
		return err
	}
	if err := c.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&version); err != nil {
		return err
	}
	for _, q := range []string{fmt.Sprintf("PRAGMA schema_version = %d", version+1), "PRAGMA writable_schema = OFF", "COMMIT"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// withRawConn runs f on a new connection to the file at path, closed afterwards;
// a transaction f leaves open is rolled back.
func withRawConn(path string, f func(*sql.Conn) error) error {
	db, err := sql.Open("sqlite3", rawDSN(path)+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := f(c); err != nil {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	return nil
}

// openBounded opens a store in a new file of t's temporary directory. Its cleanup
// closes it but gives up after a few seconds, failing the test, so that a store
// that hangs fails the test instead of hanging it.
func openBounded(t testing.TB, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), t.TempDir()+"/events.db", opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := within(t, 10*time.Second, "Close", s.Close); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// within returns f's result, failing the test if f does not return within d (f
// goes on running in the background: it hangs).
func within[T any](t testing.TB, d time.Duration, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
		var zero T
		return zero
	}
}

// errCaughtUp stands for a subscription that caught up without reporting the
// error it should have met on the way.
var errCaughtUp = errors.New("caught up without an error")

// subscribeError subscribes to the log from the start and returns the
// subscription's first error. When it catches up first, live is called, if not
// nil, and the subscription goes on; otherwise it ends with errCaughtUp. It ends
// with nil when the subscription ends without error (ctx done).
func subscribeError(ctx context.Context, s eventstore.Store, live func()) error {
	for m, err := range s.SubscribeAll(ctx, eventstore.Start()) {
		if err != nil {
			return err
		}
		if m.CaughtUp {
			if live == nil {
				return errCaughtUp
			}
			live()
		}
	}
	return nil
}

// firstError ranges over a read until its first error, returning it and the
// events before it.
func firstError(seq func(func(eventstore.RecordedEvent, error) bool)) ([]eventstore.RecordedEvent, error) {
	var evs []eventstore.RecordedEvent
	for e, err := range seq {
		if err != nil {
			return evs, err
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// wantCorrupt checks that err matches eventstore.ErrCorrupt and names what the
// row allows: each of mentions must appear in its message.
func wantCorrupt(t testing.TB, what string, err error, mentions ...string) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("%s: got %v, want an error matching ErrCorrupt", what, err)
	}
	if errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("%s: %v also matches ErrUnavailable", what, err)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("%s: %q does not mention %q", what, err, m)
		}
	}
}
