package projection_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// TestOpenDBTakesThePathLiterally: a path with URI characters names that file,
// and cannot change the runner's settings.
func TestOpenDBTakesThePathLiterally(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"read#model.db", "what?.db", "pct%41.db", "x.db?_journal_mode=DELETE&_busy_timeout=0"} {
		db, err := projection.OpenDB(filepath.Join(dir, name))
		require.NoError(t, err, name)
		_, err = db.Exec(`CREATE TABLE probe (x)`)
		require.NoError(t, err)
		var mode string
		require.NoError(t, db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
		require.Equal(t, "wal", mode, "%s: the runner's settings hold", name)
		require.NoError(t, db.Close())
		_, err = os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, "the file is named %q", name)
	}
}

// TestHandlerPanicIsAPanicError: a panic in a projection's handler fails the batch
// with an *idem.PanicError naming the projection and keeping the stack.
func TestHandlerPanicIsAPanicError(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	_, err := store.Append(ctx, "s-1", eventstore.NoStream(), amountEvent(uuid.New(), 1))
	require.NoError(t, err)
	db := openDB(t, "read.db")
	p := ledger(1)
	p.Handle = func(context.Context, *projection.Tx, projection.Event) error { panic("boom") }
	r, err := projection.NewRunner(store, db, projection.Options{Retries: -1})
	require.NoError(t, err)
	require.NoError(t, r.AddSQL(p))
	err = r.CatchUp(ctx)
	require.ErrorIs(t, err, idem.ErrPanicked)
	var pe *idem.PanicError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, pe.Callback, "ledger")
	require.NotEmpty(t, pe.Stack)
}

// TestStartupIsRetried: a read model locked when the runner starts is retried as
// its retry policy says, not given up at the first busy answer.
func TestStartupIsRetried(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	_, err := store.Append(ctx, "s-1", eventstore.NoStream(), amountEvent(uuid.New(), 1))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "read.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=50")
	require.NoError(t, err)
	defer db.Close()
	locker, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	require.NoError(t, err)
	defer locker.Close()
	tx, err := locker.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.Exec(`CREATE TABLE hold (x)`)
	require.NoError(t, err)
	time.AfterFunc(300*time.Millisecond, func() { _ = tx.Rollback() })
	r, err := projection.NewRunner(store, db, projection.Options{Retries: 8, Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, r.AddSQL(ledger(1)))
	require.NoError(t, r.CatchUp(ctx), "the runner waits out a read model locked at start")
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
	db := openDB(t, "read.db")
	r := newRunner(t, store, db, projection.Options{Retries: 1}, ledger(1))
	require.NoError(t, r.CatchUp(ctx)) // set up, nothing to apply yet

	_, err := db.Exec(`CREATE TABLE poison (ref INTEGER REFERENCES nowhere(id) DEFERRABLE INITIALLY DEFERRED);
		CREATE TABLE nowhere (id INTEGER PRIMARY KEY);
		CREATE TRIGGER fail_checkpoint AFTER UPDATE OF commit_pos ON idem_projections
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
	var commit int64
	require.NoError(t, db.QueryRow(`SELECT commit_pos FROM idem_projections WHERE name = 'ledger'`).Scan(&commit))
	require.Equal(t, 0, rows, "the read model holds nothing the checkpoint does not cover")
	require.Equal(t, int64(0), commit, "the checkpoint did not move either")

	_, err = db.Exec(`DROP TRIGGER fail_checkpoint`)
	require.NoError(t, err)
	require.NoError(t, r.CatchUp(ctx))
	require.Equal(t, map[string][2]int64{"s-1": {5, 15}}, balances(t, db), "each event applied once")
}
