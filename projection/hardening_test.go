package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// TestHandlerPanicIsAPanicError: a panic in a projection's Setup or Handle, or in a
// reactor's Handle, fails the run with an *idem.PanicError naming the projection
// and the function, and keeping the stack.
func TestHandlerPanicIsAPanicError(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	_, err := store.Append(ctx, "s-1", eventstore.NoStream(), amountEvent(uuid.New(), 1))
	require.NoError(t, err)
	tg := openTarget(t, "read.db")
	check := func(err error, callback string) {
		t.Helper()
		require.ErrorIs(t, err, idem.ErrPanicked)
		var pe *idem.PanicError
		require.ErrorAs(t, err, &pe)
		require.Contains(t, pe.Callback, callback)
		require.NotEmpty(t, pe.Stack)
	}

	p := ledger(1)
	p.Handle = func(context.Context, Tx, projection.Event) error { panic("boom") }
	r := newRunner(t, store, tg, opts(projection.WithRetries(0)), p)
	check(r.CatchUp(ctx), "projection ledger (generation 1) Handle")

	p = ledger(1)
	p.Name = "setup_panics"
	p.Setup = func(context.Context, Tx) error { panic("boom") }
	r = newRunner(t, store, tg, opts(projection.WithRetries(0)), p)
	check(r.CatchUp(ctx), "projection setup_panics (generation 1) Setup")

	r = newRunner(t, store, tg, opts(projection.WithRetries(0)))
	require.NoError(t, r.AddReactor(projection.Reactor{Name: "mailer", Handle: func(context.Context, projection.ReactorEvent) error { panic("boom") }}))
	check(r.CatchUp(ctx), "reactor mailer Handle")
}

// TestStartupIsRetried: a read model locked when the runner starts is retried as
// its retry policy says, not given up at the first busy answer: the creation of the
// bookkeeping, then the creation of a generation.
func TestStartupIsRetried(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	_, err := store.Append(ctx, "s-1", eventstore.NoStream(), amountEvent(uuid.New(), 1))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "read.db")
	tg, err := sqlitetarget.Open(ctx, path, sqlitetarget.WithBusyTimeout(50*time.Millisecond))
	require.NoError(t, err)
	defer tg.Close()
	locker, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	require.NoError(t, err)
	defer locker.Close()
	hold := func(d time.Duration) {
		tx, err := locker.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = tx.Exec(`CREATE TABLE IF NOT EXISTS hold (x); INSERT INTO hold VALUES (1)`)
		require.NoError(t, err)
		time.AfterFunc(d, func() { _ = tx.Rollback() })
	}
	newR := func(p projection.Projection[Tx]) *projection.Runner[Tx] {
		r, err := projection.NewRunner(store, tg, projection.WithRetries(20), projection.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
		require.NoError(t, err)
		require.NoError(t, r.Add(p))
		return r
	}
	hold(300 * time.Millisecond)
	require.NoError(t, newR(ledger(1)).CatchUp(ctx), "the runner waits out a read model locked at start")

	other := ledger(1)
	other.Name, other.Tables = "other", []string{"other_balances", "other_entries"}
	other.Setup = func(ctx context.Context, tx Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE {other_balances} (x); CREATE TABLE {other_entries} (x)`)
		return err
	}
	other.Handle = func(context.Context, Tx, projection.Event) error { return nil }
	hold(300 * time.Millisecond)
	require.NoError(t, newR(other).CatchUp(ctx), "the runner waits out a read model locked when it creates a generation")
}

// TestCheckpointCommitsWithTheReadModel fails the target right after the read-model
// writes, at the commit that would also move the checkpoint, and checks that the
// read model and the checkpoint agree: a checkpoint moved in a transaction of its
// own, after the read model's, would leave the rows without the checkpoint (G8).
// The failure is a deferred foreign key that a trigger on the checkpoint row
// violates, so SQLite refuses the COMMIT itself.
func TestCheckpointCommitsWithTheReadModel(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	tg := openTarget(t, "read.db")
	db := tg.DB()
	r := newRunner(t, store, tg, opts(projection.WithRetries(1)), ledger(1))
	require.NoError(t, r.CatchUp(ctx)) // set up, nothing to apply yet

	_, err := db.Exec(`CREATE TABLE poison (ref INTEGER REFERENCES nowhere(id) DEFERRABLE INITIALLY DEFERRED);
		CREATE TABLE nowhere (id INTEGER PRIMARY KEY);
		CREATE TRIGGER fail_checkpoint AFTER UPDATE OF commit_pos ON idem_projection_generations
		BEGIN INSERT INTO poison (ref) VALUES (1); END;`)
	require.NoError(t, err)
	for i := range 5 {
		_, err := store.Append(ctx, "s-1", eventstore.Any(), amountEvent(uuid.New(), int64(i+1)))
		require.NoError(t, err)
	}
	err = r.CatchUp(ctx)
	require.Error(t, err, "the commit is refused")

	var rows int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM entries`).Scan(&rows))
	require.Equal(t, 0, rows, "the read model holds nothing the checkpoint does not cover")
	require.Equal(t, uint64(0), checkpointOf(t, db, "ledger"), "the checkpoint did not move either")

	_, err = db.Exec(`DROP TRIGGER fail_checkpoint`)
	require.NoError(t, err)
	require.NoError(t, r.CatchUp(ctx))
	require.Equal(t, map[string][2]int64{"s-1": {5, 15}}, balances(t, db), "each event applied once")
}

// TestCorruptBookkeepingStopsTheRunner: an unknown generation state stored in the
// target stops the runner with an error matching eventstore.ErrCorrupt that names
// the row; nothing is applied.
func TestCorruptBookkeepingStopsTheRunner(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	tg := openTarget(t, "read.db")
	r := newRunner(t, store, tg, opts(projection.WithRetries(0)), ledger(1))
	require.NoError(t, r.CatchUp(ctx))
	_, err := tg.DB().Exec(`UPDATE idem_projection_generations SET state = 'dormant'`)
	require.NoError(t, err)
	_, err = store.Append(ctx, "s-1", eventstore.NoStream(), amountEvent(uuid.New(), 1))
	require.NoError(t, err)
	err = r.CatchUp(ctx)
	require.ErrorIs(t, err, eventstore.ErrCorrupt)
	var ce *projection.CorruptError
	require.True(t, errors.As(err, &ce), "a *CorruptError: %v", err)
	require.Contains(t, err.Error(), "name=ledger, generation=1")
	require.Empty(t, balances(t, tg.DB()))
}
