package sqlitesnap_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/command/sqlitesnap"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/storetest"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "s.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// withSnapshots is a memory event store whose snapshots live in SQLite: the
// conformance suite's Snapshots group checks the SQLite half.
type withSnapshots struct {
	eventstore.Store
	snaps *sqlitesnap.Store
}

func (w withSnapshots) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	return w.snaps.LoadSnapshot(ctx, stream)
}

func (w withSnapshots) SaveSnapshot(ctx context.Context, s eventstore.Snapshot) error {
	return w.snaps.SaveSnapshot(ctx, s)
}

func TestSnapshotsConform(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		snaps, err := sqlitesnap.New(t.Context(), openDB(t))
		require.NoError(t, err)
		mem := memory.New()
		t.Cleanup(func() { _ = mem.Close() })
		return withSnapshots{mem, snaps}
	})
}

func TestNewRejectsBadInput(t *testing.T) {
	_, err := sqlitesnap.New(t.Context(), nil)
	require.ErrorIs(t, err, sqlitesnap.ErrInvalidStore)
	_, err = sqlitesnap.New(t.Context(), openDB(t), sqlitesnap.WithTable("x; DROP TABLE y"))
	require.ErrorIs(t, err, sqlitesnap.ErrInvalidStore)
}

// TestDamagedRowsAreCorrupt writes every column of a snapshot row with every wrong
// storage class, straight into the table: LoadSnapshot reports a typed error (the
// handler then rebuilds from events), never a panic or a hang.
func TestDamagedRowsAreCorrupt(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	s, err := sqlitesnap.New(ctx, db)
	require.NoError(t, err)
	good := map[string]any{"revision": int64(3), "data": []byte(`{}`), "taken_at": int64(7)}
	// The columns are NOT NULL, and numeric text in an INTEGER column is stored as
	// an integer (SQLite's type affinity): those cannot be damaged that way.
	wrong := map[string][]any{
		"revision": {"x", 3.5, []byte{3}, int64(-1)},
		"data":     {int64(1), 2.5, "text"},
		"taken_at": {"x", 7.5, []byte{7}},
	}
	for col, values := range wrong {
		for i, v := range values {
			t.Run(fmt.Sprintf("%s/%d", col, i), func(t *testing.T) {
				row := map[string]any{}
				for k, g := range good {
					row[k] = g
				}
				row[col] = v
				_, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO idem_snapshots (stream, revision, data, taken_at)
					VALUES ('bad-1', ?, ?, ?)`, row["revision"], row["data"], row["taken_at"])
				require.NoError(t, err)
				_, err = s.LoadSnapshot(ctx, "bad-1")
				require.ErrorIs(t, err, eventstore.ErrCorrupt)
				// The next save heals it, whatever the damage.
				require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "bad-1", Revision: 4, Data: []byte(`{}`)}))
				got, err := s.LoadSnapshot(ctx, "bad-1")
				require.NoError(t, err)
				require.EqualValues(t, 4, got.Revision)
			})
		}
	}
}

func Example() {
	ctx := context.Background()
	db, _ := sql.Open("sqlite3", "file:example?mode=memory&cache=shared")
	defer db.Close()
	snaps, err := sqlitesnap.New(ctx, db)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = snaps.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "account-1", Revision: 99, Data: []byte(`{"Balance":5}`)})
	s, _ := snaps.LoadSnapshot(ctx, "account-1")
	fmt.Println(s.Revision, string(s.Data))
	// Output: 99 {"Balance":5}
}
