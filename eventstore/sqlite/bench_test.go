package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// syncModes runs a benchmark under synchronous FULL and NORMAL.
func syncModes(b *testing.B, run func(b *testing.B, s *sqlite.Store)) {
	for _, m := range []sqlite.SyncMode{sqlite.Full, sqlite.Normal} {
		b.Run(m.String(), func(b *testing.B) {
			run(b, openTemp(b, sqlite.WithSynchronous(m)))
		})
	}
}

func benchEvent() eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     "Benchmarked",
		Data:     []byte(`{"amount":100,"currency":"EUR","reference":"bench"}`),
		Metadata: []byte(`{"command":"c-1"}`),
	}
}

func reportEventsPerSec(b *testing.B, events int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(events)/s, "events/s")
	}
}

// BenchmarkAppendNewStream appends one event to a new stream (NoStream) per op.
func BenchmarkAppendNewStream(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		i := 0
		for b.Loop() {
			if _, err := s.Append(ctx, "new-"+strconv.Itoa(i), eventstore.NoStream(), benchEvent()); err != nil {
				b.Fatal(err)
			}
			i++
		}
		reportEventsPerSec(b, b.N)
	})
}

// BenchmarkAppendExisting appends one event with Exact(n) to an existing stream.
func BenchmarkAppendExisting(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		res, err := s.Append(ctx, "existing", eventstore.NoStream(), benchEvent())
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if res, err = s.Append(ctx, "existing", eventstore.Exact(res.Revision), benchEvent()); err != nil {
				b.Fatal(err)
			}
		}
		reportEventsPerSec(b, b.N)
	})
}

// BenchmarkAppend100 appends 100 events in one append per op.
func BenchmarkAppend100(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		evs := make([]eventstore.EventData, 100)
		i := 0
		for b.Loop() {
			for k := range evs {
				evs[k] = benchEvent()
			}
			if _, err := s.Append(ctx, "batch-"+strconv.Itoa(i), eventstore.NoStream(), evs...); err != nil {
				b.Fatal(err)
			}
			i++
		}
		reportEventsPerSec(b, b.N*len(evs))
	})
}

// BenchmarkReadStream1000 reads a 1000-event stream per op.
func BenchmarkReadStream1000(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		fill(b, s, "long", 1000)
		for b.Loop() {
			n := 0
			for _, err := range s.ReadStream(ctx, "long", 0) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 1000 {
				b.Fatalf("read %d events", n)
			}
		}
		reportEventsPerSec(b, b.N*1000)
	})
}

// BenchmarkReadStream10 reads a 10-event stream per op: the read a command
// handler without a cache makes for a short aggregate, dominated by the cost of a
// query rather than of its rows.
func BenchmarkReadStream10(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	fill(b, s, "short", 10)
	for b.Loop() {
		n := 0
		for _, err := range s.ReadStream(ctx, "short", 0) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 10 {
			b.Fatalf("read %d events", n)
		}
	}
}

// BenchmarkReadAll scans a log of 5000 events in 50 streams per op.
func BenchmarkReadAll(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		for i := range 50 {
			fill(b, s, "scan-"+strconv.Itoa(i), 100)
		}
		for b.Loop() {
			n := 0
			for _, err := range s.ReadAll(ctx, eventstore.Start()) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 5000 {
				b.Fatalf("read %d events", n)
			}
		}
		reportEventsPerSec(b, b.N*5000)
	})
}

// BenchmarkConcurrentAppend runs 1, 8 and 64 writers, each appending one event per
// append with Exact(n) to its own stream: group commit should make events/s rise
// with the number of writers.
func BenchmarkConcurrentAppend(b *testing.B) {
	for _, m := range []sqlite.SyncMode{sqlite.Full, sqlite.Normal} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", m, writers), func(b *testing.B) {
				s := openTemp(b, sqlite.WithSynchronous(m))
				ctx := context.Background()
				var next atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for w := range writers {
					wg.Go(func() {
						stream := "writer-" + strconv.Itoa(w)
						expected := eventstore.NoStream()
						for next.Add(1) <= int64(b.N) {
							res, err := s.Append(ctx, stream, expected, benchEvent())
							if err != nil {
								b.Error(err)
								return
							}
							expected = eventstore.Exact(res.Revision)
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				reportEventsPerSec(b, b.N)
				batches, appends, _ := sqlite.BatchStats(s)
				if batches > 0 {
					b.ReportMetric(float64(appends)/float64(batches), "appends/batch")
				}
			})
		}
	}
}

// fill appends n events to stream, 100 per append.
func fill(b *testing.B, s *sqlite.Store, stream string, n int) {
	b.Helper()
	ctx := context.Background()
	expected := eventstore.NoStream()
	for n > 0 {
		k := min(n, 100)
		evs := make([]eventstore.EventData, k)
		for i := range evs {
			evs[i] = benchEvent()
		}
		res, err := s.Append(ctx, stream, expected, evs...)
		if err != nil {
			b.Fatal(err)
		}
		expected = eventstore.Exact(res.Revision)
		n -= k
	}
}

// rawSchema is the events table of schema version 1 alone: what a hand-written
// revision-checked append needs, with the same UNIQUE(stream, revision) index.
const rawSchema = `CREATE TABLE IF NOT EXISTS events (
	position    INTEGER PRIMARY KEY AUTOINCREMENT,
	stream      TEXT    NOT NULL,
	revision    INTEGER NOT NULL,
	id          BLOB    NOT NULL,
	type        TEXT    NOT NULL,
	data        BLOB,
	metadata    BLOB,
	recorded_at INTEGER NOT NULL,
	UNIQUE (stream, revision)
)`

// rawAppender is the raw go-sqlite3 limit the store is measured against: in one
// BEGIN IMMEDIATE transaction per append, read the stream's last revision through
// the unique index, compare, insert one row; WAL and the same synchronous mode.
type rawAppender struct {
	db           *sql.DB
	last, insert *sql.Stmt
}

func openRaw(b *testing.B, m sqlite.SyncMode) *rawAppender {
	b.Helper()
	path := filepath.Join(b.TempDir(), "raw.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate&_busy_timeout=5000&_journal_mode=WAL&_synchronous="+m.String())
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	if _, err := db.Exec(rawSchema); err != nil {
		b.Fatal(err)
	}
	r := &rawAppender{db: db}
	if r.last, err = db.Prepare("SELECT revision FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1"); err != nil {
		b.Fatal(err)
	}
	if r.insert, err = db.Prepare("INSERT INTO events (stream, revision, id, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)"); err != nil {
		b.Fatal(err)
	}
	return r
}

// appendChecked appends e to stream in tx if the stream's last revision is
// expected (-1: no stream).
func (r *rawAppender) appendChecked(ctx context.Context, tx *sql.Tx, stream string, expected int64, e eventstore.EventData) error {
	last := int64(-1)
	err := tx.StmtContext(ctx, r.last).QueryRowContext(ctx, stream).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if last != expected {
		return fmt.Errorf("append to %s: expected revision %d, actual %d", stream, expected, last)
	}
	_, err = tx.StmtContext(ctx, r.insert).ExecContext(ctx, stream, last+1, e.ID[:], e.Type, e.Data, e.Metadata, time.Now().UnixNano())
	return err
}

// BenchmarkRawRevisionChecked is the raw limit for BenchmarkAppendExisting: one
// caller, one transaction per append to an existing stream.
func BenchmarkRawRevisionChecked(b *testing.B) {
	for _, m := range []sqlite.SyncMode{sqlite.Full, sqlite.Normal} {
		b.Run(m.String(), func(b *testing.B) {
			r := openRaw(b, m)
			ctx := context.Background()
			expected := int64(-1)
			step := func() {
				tx, err := r.db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.appendChecked(ctx, tx, "existing", expected, benchEvent()); err != nil {
					_ = tx.Rollback()
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				expected++
			}
			step()
			for b.Loop() {
				step()
			}
			reportEventsPerSec(b, b.N)
		})
	}
}

// BenchmarkRawGrouped is the raw limit for BenchmarkConcurrentAppend: 1, 8 and 64
// callers hand revision-checked appends to one writer goroutine that commits all
// pending appends in one transaction.
func BenchmarkRawGrouped(b *testing.B) {
	for _, m := range []sqlite.SyncMode{sqlite.Full, sqlite.Normal} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", m, writers), func(b *testing.B) {
				r := openRaw(b, m)
				ctx := context.Background()
				type request struct {
					stream   string
					expected int64
					done     chan error
				}
				reqs := make(chan request, writers)
				var writer sync.WaitGroup
				writer.Go(func() {
					batch := make([]request, 0, writers)
					for first := range reqs {
						batch = append(batch[:0], first)
					drain:
						for len(batch) < cap(batch) {
							select {
							case q := <-reqs:
								batch = append(batch, q)
							default:
								break drain
							}
						}
						tx, err := r.db.BeginTx(ctx, nil)
						errs := make([]error, len(batch))
						for k, q := range batch {
							if err == nil {
								errs[k] = r.appendChecked(ctx, tx, q.stream, q.expected, benchEvent())
							}
						}
						if err == nil {
							err = tx.Commit()
						}
						for k, q := range batch {
							if err != nil {
								q.done <- err
							} else {
								q.done <- errs[k]
							}
						}
					}
				})
				var next atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for w := range writers {
					wg.Go(func() {
						done := make(chan error, 1)
						stream := "writer-" + strconv.Itoa(w)
						expected := int64(-1)
						for next.Add(1) <= int64(b.N) {
							reqs <- request{stream: stream, expected: expected, done: done}
							if err := <-done; err != nil {
								b.Error(err)
								return
							}
							expected++
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				close(reqs)
				writer.Wait()
				reportEventsPerSec(b, b.N)
			})
		}
	}
}
