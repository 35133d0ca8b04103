package projection_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
	"github.com/idemkit/idem/projection"
)

const benchEvents, benchStreams = 50000, 100

var benchSource struct {
	once  sync.Once
	dir   string
	store *sqlite.Store
	raw   time.Duration // fastest raw scan of the events table
	err   error
}

// source builds, once per run, an eventstore/sqlite file with 50,000 events over
// 100 streams, and times a raw scan of its events table: the baseline every
// rebuild is compared with, in the same run.
func source(b *testing.B) (*sqlite.Store, time.Duration) {
	b.Helper()
	s := &benchSource
	s.once.Do(func() {
		ctx := context.Background()
		s.dir, s.err = benchTempDir()
		if s.err != nil {
			return
		}
		s.store, s.err = sqlite.Open(ctx, filepath.Join(s.dir, "events.db"), sqlite.Synchronous(sqlite.Normal))
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
				if _, s.err = s.store.Append(ctx, fmt.Sprintf("acct-%03d", i), eventstore.Any, evs[k:k+250]...); s.err != nil {
					return
				}
			}
		}
		s.raw = time.Hour
		for range 3 {
			start := time.Now()
			var n int
			if n, s.err = rawScan(ctx, s.store.DB()); s.err != nil {
				return
			}
			if n != benchEvents {
				s.err = fmt.Errorf("raw scan read %d rows", n)
				return
			}
			s.raw = min(s.raw, time.Since(start))
		}
	})
	if s.err != nil {
		b.Fatal(s.err)
	}
	return s.store, s.raw
}

func benchTempDir() (string, error) { return os.MkdirTemp("", "idem-projection-bench-") }

// rawScan reads every column of every row of the events table.
func rawScan(ctx context.Context, db *sql.DB) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT position, stream, revision, id, type, data, metadata, recorded_at FROM events ORDER BY position`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var pos, rev, at int64
		var stream, typ string
		var id, data, meta []byte
		if err := rows.Scan(&pos, &stream, &rev, &id, &typ, &data, &meta, &at); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func counting(version int) projection.SQL {
	return projection.SQL{
		Name: "counts", Version: version, Tables: []string{"counts"},
		Setup: func(ctx context.Context, tx *projection.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {counts} (type TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *projection.Tx, e projection.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO {counts} (type, n) VALUES (?, 1) ON CONFLICT (type) DO UPDATE SET n = n + 1`, e.Type)
			return err
		},
	}
}

func rowPerEvent(version int) projection.SQL {
	return projection.SQL{
		Name: "rows", Version: version, Tables: []string{"rows"},
		Setup: func(ctx context.Context, tx *projection.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {rows} (id TEXT PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, data BLOB)`)
			return err
		},
		Handle: func(ctx context.Context, tx *projection.Tx, e projection.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO {rows} (id, stream, revision, data) VALUES (?, ?, ?, ?)`, e.ID.String(), e.Stream, e.Revision, e.Data)
			return err
		},
	}
}

// BenchmarkRebuild rebuilds a projection from an eventstore/sqlite file of 50,000
// events into a fresh target database, and reports its time as a ratio to a raw
// scan of the events table measured in the same run (x-raw-scan).
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
		name string
		p    func(int) projection.SQL
	}{{"counting", counting}, {"row-per-event", rowPerEvent}} {
		b.Run(c.name, func(b *testing.B) {
			store, raw := source(b)
			ctx := context.Background()
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				db, err := projection.OpenDB(filepath.Join(b.TempDir(), "rm.db"))
				if err != nil {
					b.Fatal(err)
				}
				r, err := projection.NewRunner(store, db, projection.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				if err := r.AddSQL(c.p(1)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if err := r.CatchUp(ctx); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				if st := r.Stats()[0]; st.Applied != benchEvents {
					b.Fatalf("applied %d", st.Applied)
				}
				db.Close()
				b.StartTimer()
			}
			per := total / time.Duration(b.N)
			b.ReportMetric(float64(per)/float64(raw), "x-raw-scan")
			b.ReportMetric(float64(benchEvents)/per.Seconds(), "events/s")
			b.ReportMetric(float64(raw.Milliseconds()), "raw-scan-ms")
		})
	}
}
