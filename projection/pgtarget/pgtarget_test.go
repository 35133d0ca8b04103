package pgtarget_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// counts is a projection counting events per stream; events whose data is "bad"
// fail, so that with PoisonPark they are parked.
func counts() projection.Projection[Tx] {
	return projection.Projection[Tx]{
		Name: "counts", Version: 1, Tables: []string{"counts"}, Poison: projection.PoisonPark,
		Setup: func(ctx context.Context, tx Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {counts} (stream text PRIMARY KEY, n bigint NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
			if string(e.Data) == "bad" {
				return errors.New("bad event")
			}
			_, err := tx.Exec(ctx, `INSERT INTO {counts} (stream, n) VALUES ($1, 1)
				ON CONFLICT (stream) DO UPDATE SET n = {counts}.n + 1`, e.Stream)
			return err
		},
	}
}

func event(data string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "Counted", Data: []byte(data)}
}

// appendAll appends one event per datum to stream.
func appendAll(t testing.TB, store eventstore.Store, stream string, data ...string) {
	t.Helper()
	for _, d := range data {
		_, err := store.Append(context.Background(), stream, eventstore.Any(), event(d))
		require.NoError(t, err)
	}
}

// readCount reads the count of stream through the view.
func readCount(t testing.TB, tg *pgtarget.Target, stream string) int64 {
	t.Helper()
	var n int64
	err := tg.Pool().QueryRow(t.Context(), `SELECT n FROM `+pgx.Identifier{tg.Schema(), "counts"}.Sanitize()+` WHERE stream = $1`, stream).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	require.NoError(t, err)
	return n
}

// TestOptionsAndConnections: options a constructor cannot use fail it with
// projection.ErrInvalidOption before any connection; an unreachable server fails
// Open with ErrTargetUnavailable; New keeps the caller's pool open on Close.
func TestOptionsAndConnections(t *testing.T) {
	ctx := t.Context()
	for name, opt := range map[string]pgtarget.Option{
		"SchemaEmpty":       pgtarget.WithSchema(""),
		"SchemaPg":          pgtarget.WithSchema("pg_read"),
		"SchemaQuote":       pgtarget.WithSchema(`x"; DROP SCHEMA public; --`),
		"SchemaLong":        pgtarget.WithSchema(strings.Repeat("s", 64)),
		"LockTimeoutZero":   pgtarget.WithLockTimeout(0),
		"LockTimeoutMicros": pgtarget.WithLockTimeout(time.Microsecond),
	} {
		_, err := pgtarget.Open(ctx, "postgres://nobody@127.0.0.1:1/none", opt)
		require.ErrorIs(t, err, projection.ErrInvalidOption, name)
		_, err = pgtarget.New(pool(t), opt)
		require.ErrorIs(t, err, projection.ErrInvalidOption, name)
	}
	_, err := pgtarget.New(nil)
	require.ErrorIs(t, err, projection.ErrInvalidOption)
	_, err = pgtarget.Open(ctx, "postgres://%zz")
	require.ErrorIs(t, err, projection.ErrInvalidOption)
	_, err = pgtarget.Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	require.ErrorIs(t, err, projection.ErrTargetUnavailable)

	owned, err := pgtarget.Open(ctx, pgtest.URL(t), pgtarget.WithSchema(pgtest.Schema(t)))
	require.NoError(t, err)
	require.NoError(t, owned.Init(ctx))
	require.NoError(t, owned.Close())
	require.Error(t, owned.Pool().Ping(ctx), "Open's pool is closed by Close")
	p := pool(t)
	kept, err := pgtarget.New(p)
	require.NoError(t, err)
	require.Equal(t, pgtarget.DefaultSchema, kept.Schema())
	require.NoError(t, kept.Close())
	require.NoError(t, p.Ping(ctx), "the caller's pool stays open")
}

// TestSeveralTables: a projection with several logical tables (one in mixed
// case) gets a physical table per table and generation and a view per table;
// a Rebuild switches every view at once and drops the old generation's tables;
// a version that drops a table removes its view.
func TestSeveralTables(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	defer store.Close()
	appendAll(t, store, "a-1", "x", "y")
	appendAll(t, store, "b-1", "z")
	tg := open(t)
	two := func(version int, tables ...string) projection.Projection[Tx] {
		return projection.Projection[Tx]{Name: "two", Version: version, Tables: tables,
			Setup: func(ctx context.Context, tx Tx) error {
				for _, table := range tables {
					if _, err := tx.Exec(ctx, `CREATE TABLE {`+table+`} (stream text PRIMARY KEY, n bigint NOT NULL)`); err != nil {
						return err
					}
				}
				return nil
			},
			Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
				for _, table := range tables {
					if _, err := tx.Exec(ctx, `INSERT INTO {`+table+`} (stream, n) VALUES ($1, 1)
						ON CONFLICT (stream) DO UPDATE SET n = excluded.n + `+tx.Table(table)+`.n`, e.Stream); err != nil {
						return err
					}
				}
				return nil
			}}
	}
	build := func(p projection.Projection[Tx]) *projection.Runner[Tx] {
		r, err := projection.NewRunner(store, tg, quiet)
		require.NoError(t, err)
		require.NoError(t, r.Add(p))
		require.NoError(t, r.CatchUp(ctx))
		return r
	}
	read := func(view string) (map[string]int64, error) {
		rows, err := tg.Pool().Query(ctx, `SELECT stream, n FROM `+pgx.Identifier{tg.Schema(), view}.Sanitize())
		if err != nil {
			return nil, err
		}
		out := map[string]int64{}
		var s string
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&s, &n}, func() error { out[s] = n; return nil })
		return out, err
	}
	relations := func() []string {
		rows, err := tg.Pool().Query(ctx, `SELECT relname::text || ':' || relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND relkind IN ('r', 'v') AND relname NOT LIKE 'idem_%' ORDER BY relname`, tg.Schema())
		require.NoError(t, err)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return names
	}
	want := map[string]int64{"a-1": 2, "b-1": 1}

	r := build(two(1, "per_stream", "Mirror"))
	require.Equal(t, []string{"mirror:v", "mirror_g1:r", "per_stream:v", "per_stream_g1:r"}, relations())
	for _, v := range []string{"per_stream", "mirror", "MIRROR"} {
		got, err := read(strings.ToLower(v))
		require.NoError(t, err)
		require.Equal(t, want, got, v)
	}
	require.NoError(t, r.Rebuild(ctx, "two"))
	require.Equal(t, []string{"mirror:v", "mirror_g2:r", "per_stream:v", "per_stream_g2:r"}, relations(), "generation 1's tables dropped")

	build(two(2, "per_stream"))
	require.Equal(t, []string{"per_stream:v", "per_stream_g3:r"}, relations(), "the view of a table version 2 lacks is gone")
	got, err := read("per_stream")
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestReadOnlyIsReported: a target whose connections cannot write (a role or a
// connection whose default transactions are read-only, a hot standby) reports
// PostgreSQL's error (SQLSTATE 25006) from Init and from the runner, typed as the
// server sent it: not ErrTargetUnavailable, since retrying does not help.
func TestReadOnlyIsReported(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	ro, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer ro.Close()
	readOnly, err := pgtarget.New(ro, pgtarget.WithSchema(schema))
	require.NoError(t, err)
	requireReadOnly := func(what string, err error) {
		t.Helper()
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr, what)
		require.Equal(t, "25006", pgErr.Code, what)
		require.NotErrorIs(t, err, projection.ErrTargetUnavailable, what)
	}
	requireReadOnly("Init of a new schema", readOnly.Init(ctx))

	require.NoError(t, openSchema(t, schema).Init(ctx), "a writable target makes the bookkeeping")
	require.NoError(t, readOnly.Init(ctx), "Init creates nothing that exists")
	store := memory.New()
	defer store.Close()
	appendAll(t, store, "a-1", "x")
	r, err := projection.NewRunner(store, readOnly, quiet, projection.WithRetries(1), projection.WithBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, r.Add(counts()))
	requireReadOnly("CatchUp", r.CatchUp(ctx))
}

// TestLockTimeoutIsUnavailable: a Write that waits longer than WithLockTimeout
// for another process's Write of the same projection fails with an error
// matching ErrTargetUnavailable (the runner retries it), and holds nothing.
func TestLockTimeoutIsUnavailable(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	holder := openSchema(t, schema)
	require.NoError(t, holder.Init(ctx))
	waiter := openSchema(t, schema, pgtarget.WithLockTimeout(100*time.Millisecond))
	holding, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	defer time.AfterFunc(10*time.Second, let).Stop() // should the waiter wait for it: the test then fails, not hangs
	done := make(chan error, 1)
	go func() {
		done <- holder.Write(ctx, "p", func(projection.Writer[Tx]) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	began := time.Now()
	err := waiter.Write(ctx, "p", func(projection.Writer[Tx]) error { return errors.New("ran while the other Write held the lock") })
	require.ErrorIs(t, err, projection.ErrTargetUnavailable)
	require.Less(t, time.Since(began), 5*time.Second)
	require.NoError(t, waiter.Write(ctx, "other", func(projection.Writer[Tx]) error { return nil }), "other names are not held")
	let()
	require.NoError(t, <-done)
	require.NoError(t, waiter.Write(ctx, "p", func(projection.Writer[Tx]) error { return nil }))
}

// TestLostConnectionIsRetried: a handler whose statement loses its connection
// (the server terminates the backend), through Exec or through Query's rows, gets
// an error matching ErrTargetUnavailable; the runner retries the batch on a new connection, the
// event is not parked (PoisonPark), and every event is applied once.
func TestLostConnectionIsRetried(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	defer store.Close()
	appendAll(t, store, "a-1", "x", "y", "z")
	tg := open(t)
	p := counts()
	inner := p.Handle
	cuts := 2
	var seen []error
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		if e.Revision == 1 && cuts > 0 {
			cuts--
			const cut = `SELECT pg_terminate_backend(pg_backend_pid())`
			var err error
			if cuts == 1 {
				_, err = tx.Exec(ctx, cut)
			} else if rows, qerr := tx.Query(ctx, cut); qerr != nil {
				err = qerr
			} else {
				for rows.Next() {
				}
				rows.Close()
				err = rows.Err()
			}
			seen = append(seen, err)
			return fmt.Errorf("count: %w", err)
		}
		return inner(ctx, tx, e)
	}
	r, err := projection.NewRunner(store, tg, quiet, projection.WithRetries(3), projection.WithBackoff(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, r.Add(p))
	require.NoError(t, r.CatchUp(ctx))
	require.Len(t, seen, 2)
	for _, err := range seen {
		require.ErrorIs(t, err, projection.ErrTargetUnavailable)
	}
	parked, err := r.Parked(ctx, "counts")
	require.NoError(t, err)
	require.Empty(t, parked)
	require.Equal(t, int64(3), readCount(t, tg, "a-1"))
}

// TestPoisonEventIsParkedAndRerun: a handler error that is the event's own is
// parked with the event whole (its time to the nanosecond) and re-run once fixed.
func TestPoisonEventIsParkedAndRerun(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	defer store.Close()
	appendAll(t, store, "a-1", "x", "bad", "y")
	tg := open(t)
	r, err := projection.NewRunner(store, tg, quiet, projection.WithRetries(0))
	require.NoError(t, err)
	require.NoError(t, r.Add(counts()))
	require.NoError(t, r.CatchUp(ctx))
	require.Equal(t, int64(2), readCount(t, tg, "a-1"))
	parked, err := r.Parked(ctx, "counts")
	require.NoError(t, err)
	require.Len(t, parked, 1)
	var stored eventstore.RecordedEvent
	for e, err := range store.ReadStream(ctx, "a-1", 1, eventstore.Limit(1)) {
		require.NoError(t, err)
		stored = e
	}
	require.Equal(t, stored, parked[0].Event, "the parked event is the event as recorded")
	require.Contains(t, parked[0].Err, "bad event")
	require.NoError(t, r.SkipParked(ctx, "counts", parked[0].Event.ID))
	parked, err = r.Parked(ctx, "counts")
	require.NoError(t, err)
	require.Empty(t, parked)
}

// TestForeignBookkeepingTableIsIncompatible: a table of a bookkeeping table's name
// with other columns fails Init with eventstore.ErrIncompatible, untouched.
func TestForeignBookkeepingTableIsIncompatible(t *testing.T) {
	schema := pgtest.Schema(t)
	pgtest.Exec(t, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	guards := pgx.Identifier{schema, "idem_projection_guards"}.Sanitize()
	pgtest.Exec(t, "CREATE TABLE "+guards+" (id int)")
	err := openSchema(t, schema).Init(t.Context())
	require.ErrorIs(t, err, eventstore.ErrIncompatible)
	require.Contains(t, err.Error(), "idem_projection_guards")
	pgtest.Exec(t, "INSERT INTO "+guards+" VALUES (1)") // still the foreign table
}
