package sqlitesnap_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/command/sqlitesnap"
)

func open(t *testing.T) *sqlitesnap.Store {
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "s.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := sqlitesnap.New(t.Context(), db)
	require.NoError(t, err)
	return s
}

func TestSaveLoad(t *testing.T) {
	ctx := t.Context()
	s := open(t)
	_, err := s.LoadSnapshot(ctx, "a-1")
	require.ErrorIs(t, err, command.ErrNoSnapshot)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	snap := command.Snapshot{Stream: "a-1", Revision: 9, StateVersion: 3, State: []byte(`{"n":1}`), TakenAt: at,
		Processed: []command.ProcessedCommand{{ID: "c", Fingerprint: "f", FirstRevision: 8, LastRevision: 9, RecordedAt: at}}}
	require.NoError(t, s.SaveSnapshot(ctx, snap))
	got, err := s.LoadSnapshot(ctx, "a-1")
	require.NoError(t, err)
	require.Equal(t, snap, got)

	require.NoError(t, s.SaveSnapshot(ctx, command.Snapshot{Stream: "a-1", Revision: 4, State: []byte(`old`)}))
	got, err = s.LoadSnapshot(ctx, "a-1")
	require.NoError(t, err)
	require.Equal(t, uint64(9), got.Revision, "an older snapshot never replaces a newer one")

	require.NoError(t, s.SaveSnapshot(ctx, command.Snapshot{Stream: "a-1", Revision: 12, State: []byte(`new`)}))
	got, err = s.LoadSnapshot(ctx, "a-1")
	require.NoError(t, err)
	require.Equal(t, uint64(12), got.Revision)
	require.Empty(t, got.Processed)

	require.ErrorIs(t, s.SaveSnapshot(ctx, command.Snapshot{Stream: ""}), command.ErrInvalidSnapshot)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.LoadSnapshot(cancelled, "a-1")
	require.ErrorIs(t, err, context.Canceled)
}

func TestNewRejectsBadInput(t *testing.T) {
	_, err := sqlitesnap.New(t.Context(), nil)
	require.ErrorIs(t, err, command.ErrInvalidSnapshot)
	db, err := sql.Open("sqlite3", ":memory:")
	require.NoError(t, err)
	defer db.Close()
	_, err = sqlitesnap.New(t.Context(), db, sqlitesnap.WithTable("x; DROP TABLE y"))
	require.ErrorIs(t, err, command.ErrInvalidSnapshot)
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
	_ = snaps.SaveSnapshot(ctx, command.Snapshot{Stream: "account-1", Revision: 99, StateVersion: 1, State: []byte(`{"Balance":5}`)})
	s, _ := snaps.LoadSnapshot(ctx, "account-1")
	fmt.Println(s.Revision, string(s.State))
	// Output: 99 {"Balance":5}
}

// TestDamagedRowsAreInvalidSnapshots writes every column of a snapshot row with
// every wrong storage class, straight into the table: LoadSnapshot reports a typed
// error (the handler then rebuilds from events), never a panic or a hang.
func TestDamagedRowsAreInvalidSnapshots(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "s.db"))
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlitesnap.New(ctx, db)
	require.NoError(t, err)
	good := map[string]any{"revision": int64(3), "schema_version": int64(1), "state": []byte(`{}`), "processed": []byte(`[]`), "taken_at": int64(7)}
	// The columns are NOT NULL, and numeric text in an INTEGER column is stored
	// as an integer (SQLite's type affinity): those cannot be damaged that way.
	wrong := map[string][]any{
		"revision":       {"x", 3.5, []byte{3}, int64(-1)},
		"schema_version": {"x", 1.5, []byte{1}},
		"state":          {int64(1), 2.5},
		"processed":      {int64(1), 2.5, []byte(`{not json`), []byte(`[{"first":"x"}]`)},
		"taken_at":       {"x", 7.5, []byte{7}},
	}
	for col, values := range wrong {
		for i, v := range values {
			t.Run(fmt.Sprintf("%s/%d", col, i), func(t *testing.T) {
				row := map[string]any{}
				for k, g := range good {
					row[k] = g
				}
				row[col] = v
				_, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO idem_snapshots (stream, revision, schema_version, state, processed, taken_at)
					VALUES ('bad-1', ?, ?, ?, ?, ?)`, row["revision"], row["schema_version"], row["state"], row["processed"], row["taken_at"])
				require.NoError(t, err)
				_, err = s.LoadSnapshot(ctx, "bad-1")
				require.ErrorIs(t, err, command.ErrInvalidSnapshot)
			})
		}
	}
}
