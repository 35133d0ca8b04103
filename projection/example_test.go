package projection_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/projection"
)

func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	for _, amount := range []string{"100", "50"} {
		store.Append(ctx, "invoice-1", eventstore.Any(), eventstore.EventData{ID: uuid.New(), Type: "LineAdded", Data: []byte(amount)})
	}

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := projection.OpenDB(filepath.Join(dir, "read.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	totals := projection.SQL{
		Name:       "invoice_totals",
		Version:    1,
		Tables:     []string{"invoice_totals"},
		EventTypes: []string{"LineAdded"},
		Setup: func(ctx context.Context, tx *projection.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {invoice_totals} (invoice TEXT PRIMARY KEY, total INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *projection.Tx, e projection.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO {invoice_totals} (invoice, total) VALUES (?, CAST(? AS INTEGER))
				ON CONFLICT (invoice) DO UPDATE SET total = total + excluded.total`, e.Stream, string(e.Data))
			return err
		},
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, _ := projection.NewRunner(store, db, projection.Options{Logger: quiet})
	if err := r.AddSQL(totals); err != nil {
		fmt.Println(err)
		return
	}
	// CatchUp returns once caught up; a service calls Run, which then stays live.
	if err := r.CatchUp(ctx); err != nil {
		fmt.Println(err)
		return
	}

	// Readers use the view, named after the logical table.
	var total int
	db.QueryRow(`SELECT total FROM invoice_totals WHERE invoice = 'invoice-1'`).Scan(&total)
	st := r.Stats()[0]
	fmt.Println("total:", total)
	fmt.Println("applied:", st.Applied, "lag:", st.Lag, "checkpoint:", st.Checkpoint)

	// Replaying the same events changes nothing: the per-stream guard skips them.
	res, _ := r.ReplayStream(ctx, "invoice_totals", "invoice-1")
	fmt.Println("replay applied:", res.Applied, "skipped:", res.Skipped)
	// Output:
	// total: 150
	// applied: 2 lag: 0 checkpoint: 2/2
	// replay applied: 0 skipped: 2
}
