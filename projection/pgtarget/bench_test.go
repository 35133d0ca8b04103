package pgtarget_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// BenchmarkCatchUp builds a projection from position zero over a memory store of
// b.N events in 100 streams, into the PostgreSQL target and, in the same run,
// into the SQLite target (synchronous=FULL, as the event store's default), and
// reports events applied per second. "count" upserts a counter per stream, "rows"
// inserts a row per event. Both apply one statement per event; on PostgreSQL each
// is a round trip to the server, so the ratio depends on its distance.
//
//	go test -run XXX -bench CatchUp -benchtime 20000x ./projection/pgtarget/
func BenchmarkCatchUp(b *testing.B) {
	for _, kind := range []string{"count", "rows"} {
		b.Run("postgres/"+kind, func(b *testing.B) {
			store := benchStore(b)
			r, err := projection.NewRunner(store, open(b), quiet, projection.WithoutLagRefresh())
			require.NoError(b, err)
			require.NoError(b, r.Add(pgBench(kind)))
			catchUp(b, r.CatchUp)
		})
		b.Run("sqlite/"+kind, func(b *testing.B) {
			store := benchStore(b)
			tg, err := sqlitetarget.Open(b.Context(), filepath.Join(b.TempDir(), "read.db"), sqlitetarget.WithSynchronous(sqlitetarget.Full))
			require.NoError(b, err)
			b.Cleanup(func() { _ = tg.Close() })
			r, err := projection.NewRunner(store, tg, quiet, projection.WithoutLagRefresh())
			require.NoError(b, err)
			require.NoError(b, r.Add(sqliteBench(kind)))
			catchUp(b, r.CatchUp)
		})
	}
}

func catchUp(b *testing.B, run func(context.Context) error) {
	b.ResetTimer()
	began := time.Now()
	require.NoError(b, run(context.Background()))
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "events/s")
}

func benchStore(b *testing.B) eventstore.Store {
	store := memory.New()
	b.Cleanup(func() { _ = store.Close() })
	for i := range b.N {
		_, err := store.Append(context.Background(), fmt.Sprintf("s-%d", i%100), eventstore.Any(),
			eventstore.EventData{ID: uuid.New(), Type: "Counted", Data: []byte(`{"amount":100}`)})
		require.NoError(b, err)
	}
	return store
}

func pgBench(kind string) projection.Projection[Tx] {
	ddl, stmt := `CREATE TABLE {t} (stream text PRIMARY KEY, n bigint NOT NULL)`,
		`INSERT INTO {t} (stream, n) VALUES ($1, 1) ON CONFLICT (stream) DO UPDATE SET n = {t}.n + 1`
	if kind == "rows" {
		ddl, stmt = `CREATE TABLE {t} (stream text NOT NULL, revision bigint NOT NULL, PRIMARY KEY (stream, revision))`,
			`INSERT INTO {t} (stream, revision) VALUES ($1, $2)`
	}
	return projection.Projection[Tx]{Name: kind, Version: 1, Tables: []string{"t"},
		Setup: func(ctx context.Context, tx Tx) error { _, err := tx.Exec(ctx, ddl); return err },
		Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
			args := []any{e.Stream}
			if kind == "rows" {
				args = append(args, int64(e.Revision))
			}
			_, err := tx.Exec(ctx, stmt, args...)
			return err
		}}
}

func sqliteBench(kind string) projection.Projection[*sqlitetarget.Tx] {
	ddl, stmt := `CREATE TABLE {t} (stream TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
		`INSERT INTO {t} (stream, n) VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1`
	if kind == "rows" {
		ddl, stmt = `CREATE TABLE {t} (stream TEXT NOT NULL, revision INTEGER NOT NULL, PRIMARY KEY (stream, revision))`,
			`INSERT INTO {t} (stream, revision) VALUES (?, ?)`
	}
	return projection.Projection[*sqlitetarget.Tx]{Name: kind, Version: 1, Tables: []string{"t"},
		Setup: func(ctx context.Context, tx *sqlitetarget.Tx) error { _, err := tx.Exec(ctx, ddl); return err },
		Handle: func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
			args := []any{e.Stream}
			if kind == "rows" {
				args = append(args, int64(e.Revision))
			}
			_, err := tx.Exec(ctx, stmt, args...)
			return err
		}}
}
