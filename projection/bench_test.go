package projection_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/sqlite"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

const benchEvents, benchStreams = 50000, 100

var benchSource struct {
	once  sync.Once
	dir   string
	store *sqlite.Store
	err   error
}

// source builds, once per run, an eventstore/sqlite file with 50,000 events over
// 100 streams.
func source(b *testing.B) *sqlite.Store {
	b.Helper()
	s := &benchSource
	s.once.Do(func() {
		ctx := context.Background()
		s.dir, s.err = benchTempDir()
		if s.err != nil {
			return
		}
		s.store, s.err = sqlite.Open(ctx, filepath.Join(s.dir, "events.db"), sqlite.WithSynchronous(sqlite.Normal))
		if s.err != nil {
			return
		}
		per := benchEvents / benchStreams
		for i := range benchStreams {
			evs := make([]eventstore.EventData, per)
			for j := range evs {
				evs[j] = amountEvent(uuid.New(), int64(j))
			}
			for k := 0; k < per; k += 250 {
				if _, s.err = s.store.Append(ctx, fmt.Sprintf("acct-%03d", i), eventstore.Any(), evs[k:k+250]...); s.err != nil {
					return
				}
			}
		}
	})
	if s.err != nil {
		b.Fatal(s.err)
	}
	return s.store
}

func benchTempDir() (string, error) { return os.MkdirTemp("", "idem-projection-bench-") }

// rawRow is one row of the events table, as rawScan reads it.
type rawRow struct {
	pos, rev, at   int64
	stream, typ    string
	id, data, meta []byte
}

// rawScan reads every column of every row of the events table, calling each (if
// not nil) with every row.
func rawScan(ctx context.Context, db *sql.DB, each func(*rawRow) error) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT position, stream, revision, id, type, data, metadata, recorded_at FROM events ORDER BY position`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	var r rawRow
	for rows.Next() {
		if err := rows.Scan(&r.pos, &r.stream, &r.rev, &r.id, &r.typ, &r.data, &r.meta, &r.at); err != nil {
			return n, err
		}
		if each != nil {
			if err := each(&r); err != nil {
				return n, err
			}
		}
		n++
	}
	return n, rows.Err()
}

// floorTxRows is the rows per transaction of the raw floor.
const floorTxRows = 4096

// rawFloor is the physical floor of a projection: a raw scan of the events table
// feeding the projection's own statement, prepared once, for every event, in
// transactions of floorTxRows rows, into a fresh target opened like the runner's.
// No checkpoint, guard, or framework.
func rawFloor(ctx context.Context, src *sql.DB, dir string, f floor) error {
	tg, err := sqlitetarget.Open(ctx, filepath.Join(dir, "floor.db"))
	if err != nil {
		return err
	}
	defer tg.Close()
	db := tg.DB()
	if _, err := db.ExecContext(ctx, f.setup); err != nil {
		return err
	}
	var tx *sql.Tx
	var stmt *sql.Stmt
	n := 0
	_, err = rawScan(ctx, src, func(r *rawRow) error {
		if n%floorTxRows == 0 {
			if tx != nil {
				if err := tx.Commit(); err != nil {
					return err
				}
			}
			if tx, err = db.BeginTx(ctx, nil); err != nil {
				return err
			}
			if stmt, err = tx.PrepareContext(ctx, f.stmt); err != nil {
				return err
			}
		}
		n++
		_, err := stmt.ExecContext(ctx, f.args(r)...)
		return err
	})
	if err != nil {
		return err
	}
	return tx.Commit()
}

// floor is the SQL a projection runs, for rawFloor.
type floor struct {
	setup, stmt string
	args        func(*rawRow) []any
}

func counting(version int) projection.Projection[Tx] {
	return projection.Projection[Tx]{
		Name: "counts", Version: version, Tables: []string{"counts"},
		Setup: func(ctx context.Context, tx Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {counts} (type TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO {counts} (type, n) VALUES (?, 1) ON CONFLICT (type) DO UPDATE SET n = n + 1`, e.Type)
			return err
		},
	}
}

func rowPerEvent(version int) projection.Projection[Tx] {
	return projection.Projection[Tx]{
		Name: "rows", Version: version, Tables: []string{"rows"},
		Setup: func(ctx context.Context, tx Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {rows} (id TEXT PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, data BLOB)`)
			return err
		},
		Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO {rows} (id, stream, revision, data) VALUES (?, ?, ?, ?)`, e.ID.String(), e.Stream, e.Revision, e.Data)
			return err
		},
	}
}

// BenchmarkRebuild rebuilds a projection from an eventstore/sqlite file of 50,000
// events into a fresh target database. Beside every rebuild, in the same run, it
// times a raw scan of the events table and the projection's raw floor (rawFloor),
// and reports the rebuild's time as ratios to them (x-raw-scan, x-floor), best of
// the iterations for each: the machine may be shared, and timing them side by side
// keeps the ratios meaningful when its load changes.
func BenchmarkRebuild(b *testing.B) {
	b.Cleanup(func() {
		if benchSource.store != nil {
			benchSource.store.Close()
		}
		if benchSource.dir != "" {
			os.RemoveAll(benchSource.dir)
		}
	})
	for _, c := range []struct {
		name  string
		p     func(int) projection.Projection[Tx]
		floor floor
	}{
		{"counting", counting, floor{
			setup: `CREATE TABLE counts (type TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
			stmt:  `INSERT INTO counts (type, n) VALUES (?, 1) ON CONFLICT (type) DO UPDATE SET n = n + 1`,
			args:  func(r *rawRow) []any { return []any{r.typ} },
		}},
		{"row-per-event", rowPerEvent, floor{
			setup: `CREATE TABLE rows (id TEXT PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, data BLOB)`,
			stmt:  `INSERT INTO rows (id, stream, revision, data) VALUES (?, ?, ?, ?)`,
			args: func(r *rawRow) []any {
				return []any{uuid.UUID(r.id).String(), r.stream, r.rev, r.data}
			},
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			store := source(b)
			ctx := context.Background()
			best := func(d *time.Duration, f func() error) {
				start := time.Now()
				if err := f(); err != nil {
					b.Fatal(err)
				}
				*d = min(*d, time.Since(start))
			}
			rebuild, raw, flo := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
			for b.Loop() {
				b.StopTimer()
				best(&raw, func() error {
					n, err := rawScan(ctx, store.DB(), nil)
					if err == nil && n != benchEvents {
						err = fmt.Errorf("raw scan read %d rows", n)
					}
					return err
				})
				best(&flo, func() error { return rawFloor(ctx, store.DB(), b.TempDir(), c.floor) })
				tg, err := sqlitetarget.Open(ctx, filepath.Join(b.TempDir(), "rm.db"))
				if err != nil {
					b.Fatal(err)
				}
				r, err := projection.NewRunner(store, tg, projection.WithLogger(slog.New(slog.DiscardHandler)))
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Add(c.p(1)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				best(&rebuild, func() error { return r.CatchUp(ctx) })
				b.StopTimer()
				if st := r.Stats()[0]; st.Applied != benchEvents {
					b.Fatalf("applied %d", st.Applied)
				}
				tg.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(rebuild)/float64(raw), "x-raw-scan")
			b.ReportMetric(float64(rebuild)/float64(flo), "x-floor")
			b.ReportMetric(float64(flo)/float64(raw), "floor-x-raw-scan")
			b.ReportMetric(float64(benchEvents)/rebuild.Seconds(), "events/s")
			b.ReportMetric(float64(raw.Milliseconds()), "raw-scan-ms")
		})
	}
}

// BenchmarkLive appends b.N events, one per append over 64 streams, to a memory
// store while a runner applies them live (batches of what is immediately
// available, up to the live batch size); the time per event runs to the last
// commit.
func BenchmarkLive(b *testing.B) {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	tg, err := sqlitetarget.Open(ctx, filepath.Join(b.TempDir(), "rm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	r, err := projection.NewRunner(store, tg, projection.WithLogger(slog.New(slog.DiscardHandler)), projection.WithoutLagRefresh())
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Add(rowPerEvent(1)); err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	for r.Stats()[0].Mode != projection.Live {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	var last eventstore.Position
	b.ResetTimer()
	for i := range b.N {
		res, err := store.Append(ctx, fmt.Sprintf("acct-%02d", i%64), eventstore.Any(), amountEvent(uuid.New(), 1))
		if err != nil {
			b.Fatal(err)
		}
		last = res.Position
	}
	for r.Stats()[0].Checkpoint != last {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
