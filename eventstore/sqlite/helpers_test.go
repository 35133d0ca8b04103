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

// rawDB opens the file behind the store's back, as another process would.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", rawDSN(path)+"?_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatalf("open raw: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawDSN is the URI of the file at path, without parameters: characters that
// mean something in a URI (a fuzz test's directory has a '#') are escaped.
func rawDSN(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// holdWriteLock takes SQLite's write lock on path from another connection and
// returns the function that releases it.
func holdWriteLock(t testing.TB, path string) (release func()) {
	t.Helper()
	db := rawDB(t, path)
	tx, err := db.Begin()
	if err != nil {
		t.Fatalf("begin immediate: %v", err)
	}
	return func() { _ = tx.Rollback() }
}

// newEvent returns an event with a fresh id.
func newEvent(typ string) eventstore.EventData {
	id := uuid.New()
	return eventstore.EventData{ID: id, Type: typ, Data: []byte(`{"id":"` + id.String() + `"}`)}
}

// streamIDs reads stream and returns its ids.
func streamIDs(t testing.TB, s eventstore.Store, stream string) []uuid.UUID {
	t.Helper()
	var out []uuid.UUID
	for e, err := range s.ReadStream(context.Background(), stream, 0) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		out = append(out, e.ID)
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// enqueued runs one append in a goroutine and waits until the writer's queue holds
// it, so that appends enter the queue in the order of the calls.
type enqueued struct {
	res  eventstore.AppendResult
	err  error
	done chan struct{}
}

func enqueue(t *testing.T, ctx context.Context, s *sqlite.Store, stream string, expected eventstore.ExpectedRevision, evs ...eventstore.EventData) *enqueued {
	t.Helper()
	before := sqlite.QueueLen(s)
	q := &enqueued{done: make(chan struct{})}
	go func() {
		defer close(q.done)
		q.res, q.err = s.Append(ctx, stream, expected, evs...)
	}()
	waitFor(t, 5*time.Second, fmt.Sprintf("append to %s to be queued", stream), func() bool {
		return sqlite.QueueLen(s) == before+1
	})
	return q
}

func (q *enqueued) wait(t *testing.T) (eventstore.AppendResult, error) {
	t.Helper()
	select {
	case <-q.done:
		return q.res, q.err
	case <-time.After(10 * time.Second):
		t.Fatal("append did not return")
		return eventstore.AppendResult{}, nil
	}
}
