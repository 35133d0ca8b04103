package sqlitetarget_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/sqlite"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

type Tx = *sqlitetarget.Tx

var quiet = projection.WithLogger(slog.New(slog.DiscardHandler))

// counts is a projection counting events per stream; events whose data is "bad"
// fail, so that with PoisonPark they are parked.
func counts() projection.Projection[Tx] {
	return projection.Projection[Tx]{
		Name: "counts", Version: 1, Tables: []string{"counts"}, Poison: projection.PoisonPark,
		Setup: func(ctx context.Context, tx Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {counts} (stream TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
			if string(e.Data) == "bad" {
				return errors.New("bad event")
			}
			_, err := tx.Exec(ctx, `INSERT INTO {counts} (stream, n) VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1`, e.Stream)
			return err
		},
	}
}

func event(data string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "Counted", Data: []byte(data)}
}

func open(t testing.TB) *sqlitetarget.Target {
	t.Helper()
	tg, err := sqlitetarget.Open(t.Context(), filepath.Join(t.TempDir(), "read.db"))
	require.NoError(t, err)
	t.Cleanup(func() { tg.Close() })
	return tg
}

// TestOpenTakesThePathLiterally: a path with URI characters names that file, and
// cannot change the target's settings.
func TestOpenTakesThePathLiterally(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"read#model.db", "what?.db", "pct%41.db", "x.db?_journal_mode=DELETE&_busy_timeout=0"} {
		tg, err := sqlitetarget.Open(t.Context(), filepath.Join(dir, name))
		require.NoError(t, err, name)
		_, err = tg.DB().Exec(`CREATE TABLE probe (x)`)
		require.NoError(t, err)
		var mode string
		require.NoError(t, tg.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode))
		require.Equal(t, "wal", mode, "%s: the target's settings hold", name)
		require.NoError(t, tg.Close())
		_, err = os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, "the file is named %q", name)
	}
}

// TestOpenOptions: synchronous is NORMAL by default and FULL on request, the busy
// timeout is set, and options out of range are refused with ErrInvalidOption.
func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	pragma := func(tg *sqlitetarget.Target, name string) int {
		var v int
		require.NoError(t, tg.DB().QueryRow(`PRAGMA `+name).Scan(&v))
		return v
	}
	tg, err := sqlitetarget.Open(t.Context(), filepath.Join(dir, "a.db"))
	require.NoError(t, err)
	require.Equal(t, 1, pragma(tg, "synchronous"), "NORMAL by default")
	require.Equal(t, int(sqlitetarget.DefaultBusyTimeout.Milliseconds()), pragma(tg, "busy_timeout"))
	require.NoError(t, tg.Close())
	tg, err = sqlitetarget.Open(t.Context(), filepath.Join(dir, "b.db"),
		sqlitetarget.WithSynchronous(sqlitetarget.Full), sqlitetarget.WithBusyTimeout(1500*time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, 2, pragma(tg, "synchronous"), "FULL on request")
	require.Equal(t, 1500, pragma(tg, "busy_timeout"))
	require.NoError(t, tg.Close())
	for _, o := range []sqlitetarget.Option{sqlitetarget.WithSynchronous(0), sqlitetarget.WithBusyTimeout(0)} {
		_, err := sqlitetarget.Open(t.Context(), filepath.Join(dir, "c.db"), o)
		require.ErrorIs(t, err, projection.ErrInvalidOption)
	}
}

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("no") }

type fakeConnector struct{}

func (fakeConnector) Connect(context.Context) (driver.Conn, error) { return nil, errors.New("no") }
func (fakeConnector) Driver() driver.Driver                        { return fakeDriver{} }

// TestNew uses a database the caller opened, which Close leaves open, and refuses
// one opened with another driver.
func TestNew(t *testing.T) {
	_, err := sqlitetarget.New(nil)
	require.ErrorIs(t, err, projection.ErrInvalidOption)
	other := sql.OpenDB(fakeConnector{})
	defer other.Close()
	_, err = sqlitetarget.New(other)
	require.ErrorIs(t, err, projection.ErrInvalidOption)

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "mine.db")+"?_journal_mode=WAL&_busy_timeout=5000")
	require.NoError(t, err)
	defer db.Close()
	tg, err := sqlitetarget.New(db)
	require.NoError(t, err)
	require.NoError(t, tg.Init(t.Context()))
	require.NoError(t, tg.Close())
	require.NoError(t, db.Ping(), "the caller's database stays open")
}

// TestReadModelsInTheEventStoresFile: the target can be the event store's own
// SQLite file; events and read models live side by side, each written in its own
// transactions, waiting for each other's lock.
func TestReadModelsInTheEventStoresFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	store, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer store.Close()
	for range 3 {
		_, err := store.Append(ctx, "c-1", eventstore.Any(), event("ok"))
		require.NoError(t, err)
	}
	tg, err := sqlitetarget.Open(ctx, path)
	require.NoError(t, err)
	defer tg.Close()
	r, err := projection.NewRunner(store, tg, quiet)
	require.NoError(t, err)
	require.NoError(t, r.Add(counts()))
	require.NoError(t, r.CatchUp(ctx))
	var n int
	require.NoError(t, store.DB().QueryRow(`SELECT n FROM counts WHERE stream = 'c-1'`).Scan(&n))
	require.Equal(t, 3, n)
}

// TestWriterBookkeeping drives the Writer directly: a failed Write leaves nothing
// behind and returns fn's error; a guard never moves back (G8); Advance is a
// compare-and-set that tells a moved checkpoint from a retired generation; a view
// name taken by a table is refused; a retired generation is dropped whole.
func TestWriterBookkeeping(t *testing.T) {
	ctx := t.Context()
	tg := open(t)
	require.NoError(t, tg.Init(ctx))
	g := projection.Generation{Name: "p", Number: 1, Kind: projection.KindProjection, Version: 1, Tables: []string{"things"}}
	setup := func(tx Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE {things} (x)`)
		return err
	}
	write := func(fn func(w projection.Writer[Tx]) error) error { return tg.Write(ctx, "p", fn) }

	boom := errors.New("boom")
	err := write(func(w projection.Writer[Tx]) error {
		require.NoError(t, w.Create(ctx, g, setup))
		return boom
	})
	require.ErrorIs(t, err, boom)
	gens, err := tg.Generations(ctx, "p")
	require.NoError(t, err)
	require.Empty(t, gens, "a failed Write leaves nothing")

	require.NoError(t, write(func(w projection.Writer[Tx]) error {
		if err := w.Create(ctx, g, setup); err != nil {
			return err
		}
		return w.Activate(ctx, 1)
	}))
	require.NoError(t, write(func(w projection.Writer[Tx]) error {
		return w.SaveGuards(ctx, 1, map[string]uint64{"s": 5, "u": 1})
	}))
	require.NoError(t, write(func(w projection.Writer[Tx]) error {
		return w.SaveGuards(ctx, 1, map[string]uint64{"s": 3, "u": 2})
	}))
	guards, err := tg.Guards(ctx, "p", 1, []string{"s", "u", "none"})
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{"s": 5, "u": 2}, guards, "a guard keeps the higher revision")

	one := eventstore.Position{Commit: 1, Prepare: 1}
	require.NoError(t, write(func(w projection.Writer[Tx]) error { return w.Advance(ctx, 1, eventstore.Start(), one) }))
	err = write(func(w projection.Writer[Tx]) error { return w.Advance(ctx, 1, eventstore.Start(), one) })
	require.ErrorIs(t, err, projection.ErrCheckpointMoved)

	_, err = tg.DB().Exec(`CREATE TABLE others (x)`)
	require.NoError(t, err)
	g2 := projection.Generation{Name: "p", Number: 2, Kind: projection.KindProjection, Version: 1, Tables: []string{"others"}}
	err = write(func(w projection.Writer[Tx]) error {
		if err := w.Create(ctx, g2, func(tx Tx) error { _, err := tx.Exec(ctx, `CREATE TABLE {others} (x)`); return err }); err != nil {
			return err
		}
		return w.Activate(ctx, 2)
	})
	require.ErrorIs(t, err, projection.ErrInvalidProjection, "a view cannot replace the table others")

	err = write(func(w projection.Writer[Tx]) error { return w.Drop(ctx, 1) })
	require.ErrorIs(t, err, projection.ErrInvalidProjection, "an active generation is not dropped")
	require.NoError(t, write(func(w projection.Writer[Tx]) error {
		if err := w.Retire(ctx, 1); err != nil {
			return err
		}
		return w.Drop(ctx, 1)
	}))
	err = write(func(w projection.Writer[Tx]) error { return w.Claim(ctx, 1) })
	require.ErrorIs(t, err, projection.ErrRetired)
	err = write(func(w projection.Writer[Tx]) error { return w.Advance(ctx, 1, one, one) })
	require.ErrorIs(t, err, projection.ErrRetired)
	gens, err = tg.Generations(ctx, "p")
	require.NoError(t, err)
	require.Len(t, gens, 1)
	require.Equal(t, projection.Retired, gens[0].State)
	require.Empty(t, gens[0].Tables)
	guards, err = tg.Guards(ctx, "p", 1, []string{"s"})
	require.NoError(t, err)
	require.Empty(t, guards, "a dropped generation's guards are gone")
	var n int
	require.NoError(t, tg.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('things', 'things_g1')`).Scan(&n))
	require.Zero(t, n, "its table and view are gone")
}

// TestCorruptBookkeeping stores a value of the wrong storage class (or out of
// range) in each column of the bookkeeping tables that the runner reads, and checks
// that the runner's paths reading it fail with an error matching
// eventstore.ErrCorrupt that names the table, without a panic or a hang (G11).
//
// Key columns the runner looks rows up by (a guard's name, generation and stream;
// a parked event's name) are left out: a wrong value there makes the row another
// key's, which no reader asks for. A generation's name is in, as its reader also
// matches names stored as blobs.
func TestCorruptBookkeeping(t *testing.T) {
	type column struct {
		table, name string
		bad         []string // SQL literals
	}
	integer := []string{`'abc'`, `1.5`, `x'00'`, `-1`}
	text := []string{`x'00'`, `CAST(%s AS BLOB)`}
	cols := []column{
		{"idem_projection_generations", "name", []string{`CAST(%s AS BLOB)`}},
		{"idem_projection_generations", "generation", append([]string{`0`}, integer...)},
		{"idem_projection_generations", "kind", append([]string{`'view'`}, text...)},
		{"idem_projection_generations", "version", integer},
		{"idem_projection_generations", "state", append([]string{`'dormant'`}, text...)},
		{"idem_projection_generations", "tables", append([]string{`'a b'`}, text...)},
		{"idem_projection_generations", "commit_pos", integer},
		{"idem_projection_generations", "prepare_pos", integer},
		{"idem_projection_generations", "created_at", append([]string{`'yesterday'`}, text...)},
		{"idem_projection_generations", "updated_at", append([]string{`'yesterday'`}, text...)},
		{"idem_projection_guards", "revision", integer},
		{"idem_projection_parked_events", "generation", integer},
		{"idem_projection_parked_events", "event_id", append([]string{`'not-a-uuid'`}, text...)},
		{"idem_projection_parked_events", "stream", text},
		{"idem_projection_parked_events", "revision", integer},
		{"idem_projection_parked_events", "commit_pos", integer},
		{"idem_projection_parked_events", "prepare_pos", integer},
		{"idem_projection_parked_events", "type", text},
		{"idem_projection_parked_events", "data", []string{`'text'`, `1`, `1.5`}},
		{"idem_projection_parked_events", "metadata", []string{`'text'`, `1`, `1.5`}},
		{"idem_projection_parked_events", "recorded_at", append([]string{`'yesterday'`}, text...)},
		{"idem_projection_parked_events", "error", text},
		{"idem_projection_parked_events", "attempts", integer},
		{"idem_projection_parked_events", "parked_at", append([]string{`'yesterday'`}, text...)},
	}
	cases := 0
	for _, c := range cols {
		for _, bad := range c.bad {
			t.Run(fmt.Sprintf("%s.%s=%s", c.table, c.name, bad), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				store := memory.New()
				defer store.Close()
				for _, d := range []string{"ok", "bad", "ok"} {
					_, err := store.Append(ctx, "c-1", eventstore.Any(), event(d))
					require.NoError(t, err)
				}
				tg := open(t)
				r, err := projection.NewRunner(store, tg, projection.WithRetries(0), quiet)
				require.NoError(t, err)
				require.NoError(t, r.Add(counts()))
				require.NoError(t, r.CatchUp(ctx), "one event parked, two applied")

				value := strings.ReplaceAll(bad, "%s", c.name)
				_, err = tg.DB().Exec(fmt.Sprintf(`UPDATE %s SET %s = %s`, c.table, c.name, value))
				require.NoError(t, err)
				_, err = store.Append(ctx, "c-1", eventstore.Any(), event("ok"))
				require.NoError(t, err)

				var errs []error
				switch c.table {
				case "idem_projection_generations":
					errs = append(errs, r.CatchUp(ctx))
					_, err := r.Status(ctx, "counts")
					errs = append(errs, err)
				case "idem_projection_guards":
					errs = append(errs, r.CatchUp(ctx))
					_, err := r.ReplayStream(ctx, "counts", "c-1")
					errs = append(errs, err)
				case "idem_projection_parked_events":
					_, err := r.Parked(ctx, "counts")
					errs = append(errs, err, r.SkipParked(ctx, "counts", uuid.New()))
				}
				require.NoError(t, ctx.Err(), "no hang")
				for _, err := range errs {
					require.ErrorIs(t, err, eventstore.ErrCorrupt)
					var ce *projection.CorruptError
					require.ErrorAs(t, err, &ce)
					require.Contains(t, err.Error(), c.table)
					require.Contains(t, err.Error(), c.name)
				}
				cases++
			})
		}
	}
	require.Greater(t, cases, 60)
}
