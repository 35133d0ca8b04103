package command_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// TestDamagedRowsFailTheHandlerTyped: a damaged row of an aggregate's stream, in
// a SQLite file, makes the handler's load (and its lookup by id) fail with
// eventstore.ErrCorrupt within the call: never a hang, a panic, or a decision on
// a partial record. Other aggregates stay served, and the store closes (G11).
func TestDamagedRowsFailTheHandlerTyped(t *testing.T) {
	for _, d := range []struct {
		column string
		value  any
	}{
		{"revision", "two"}, {"revision", int64(-1)}, {"id", "0195f3a4-7b1c-7d2e-9f00-5a6b7c8d9e0f"},
		{"id", []byte{1, 2, 3}}, {"metadata", int64(7)}, {"data", 1.5},
		{"metadata", []byte(`{"command_id": 5}`)},
	} {
		t.Run(fmt.Sprintf("%s=%v", d.column, d.value), func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "events.db")
			store, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.Normal))
			require.NoError(t, err)
			h := newHandler(t, store)
			for i := range 3 {
				_, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("dep-%d", i), AggregateID: "victim", Payload: Deposit{Amount: 1}})
				require.NoError(t, err)
			}
			_, err = h.Handle(ctx, cmd{ID: "other", AggregateID: "bystander", Payload: Deposit{Amount: 1}})
			require.NoError(t, err)

			raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
			require.NoError(t, err)
			_, err = raw.Exec(`UPDATE events SET `+d.column+` = ? WHERE stream = 'account-victim' AND revision = 1`, d.value)
			require.NoError(t, err)
			require.NoError(t, raw.Close())

			fresh := newHandler(t, store) // nothing in memory: it reads the rows
			for _, c := range []cmd{
				{ID: "dep-1", AggregateID: "victim", Payload: Deposit{Amount: 1}}, // a redelivery: looked up by id
				{ID: "dep-new", AggregateID: "victim", Payload: Deposit{Amount: 1}},
			} {
				done := make(chan error, 1)
				go func() {
					_, err := fresh.Handle(ctx, c)
					done <- err
				}()
				select {
				case err := <-done:
					require.ErrorIs(t, err, eventstore.ErrCorrupt, "%s", c.ID)
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: Handle did not return", c.ID)
				}
			}
			_, err = fresh.Load(ctx, "victim")
			require.ErrorIs(t, err, eventstore.ErrCorrupt)
			_, err = fresh.Handle(ctx, cmd{ID: "other-2", AggregateID: "bystander", Payload: Deposit{Amount: 1}})
			require.NoError(t, err, "other aggregates stay served")

			closed := make(chan error, 1)
			go func() { closed <- store.Close() }()
			select {
			case err := <-closed:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return")
			}
		})
	}
}
