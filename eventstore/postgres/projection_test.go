package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

func init() { projectionBeside = pgProjectionBeside }

// pgProjectionBeside runs a projection on projection/pgtarget, in a schema of
// its own on the same server, live beside the racing writers and subscribers of
// TestPositionsNeverSkipAnEvent, reading the log through store. Its handler
// inserts a row per event, numbered in the order applied. The check waits for it
// to reach the last event, then requires every event applied exactly once, in
// position order (G8 over serialised positions).
func pgProjectionBeside(t *testing.T, store eventstore.Store) func(all []eventstore.RecordedEvent) {
	ctx, cancel := context.WithCancel(t.Context())
	pool, err := pgxpool.New(ctx, pgtest.URL(t))
	require.NoError(t, err)
	target, err := pgtarget.New(pool, pgtarget.WithSchema(pgtest.Schema(t)))
	require.NoError(t, err)
	r, err := projection.NewRunner(store, target, projection.WithLogger(slog.New(slog.DiscardHandler)),
		projection.WithCatchUpBatchSize(64), projection.WithBatchSize(64))
	require.NoError(t, err)
	require.NoError(t, r.Add(projection.Projection[*pgtarget.Tx]{
		Name: "applied", Version: 1, Tables: []string{"applied"}, EventTypes: []string{"Written"},
		Setup: func(ctx context.Context, tx *pgtarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {applied} (seq bigserial PRIMARY KEY, id uuid NOT NULL, position bigint NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *pgtarget.Tx, e projection.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO {applied} (id, position) VALUES ($1, $2)`, e.ID, int64(e.Position.Commit))
			return err
		},
	}))
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-ran; pool.Close() })

	return func(all []eventstore.RecordedEvent) {
		last := all[len(all)-1].Position
		require.Eventually(t, func() bool {
			st, err := r.Status(ctx, "applied")
			return err == nil && !st.Checkpoint.Less(last)
		}, 2*time.Minute, 20*time.Millisecond, "the projection reaches the last event: %+v", r.Stats())
		rows, err := pool.Query(ctx, `SELECT id, position FROM `+pgx.Identifier{target.Schema(), "applied"}.Sanitize()+` ORDER BY seq`)
		require.NoError(t, err)
		type applied struct {
			id       uuid.UUID
			position int64
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (applied, error) {
			var a applied
			err := r.Scan(&a.id, &a.position)
			return a, err
		})
		require.NoError(t, err)
		require.Equal(t, len(all), len(got), "every event applied exactly once")
		for k, e := range all {
			if got[k].id != e.ID || uint64(got[k].position) != e.Position.Commit {
				t.Fatalf("applied #%d: %s at %d, want %s at %s", k, got[k].id, got[k].position, e.ID, e.Position)
			}
		}
		t.Logf("the projection on pgtarget applied each of the %d events once, in position order", len(all))
	}
}
