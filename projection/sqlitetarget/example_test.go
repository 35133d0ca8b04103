package sqlitetarget_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// Open a target with synchronous=FULL (a committed batch survives a power loss)
// and a longer busy timeout.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	target, err := sqlitetarget.Open(ctx, filepath.Join(dir, "read.db"),
		sqlitetarget.WithSynchronous(sqlitetarget.Full),
		sqlitetarget.WithBusyTimeout(30*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer target.Close()

	var mode int
	target.DB().QueryRow(`PRAGMA synchronous`).Scan(&mode)
	fmt.Println("synchronous:", mode)
	// Output:
	// synchronous: 2
}

// New uses a database the caller opened with the sqlite3 driver, and keeps.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "app.db")+"?_journal_mode=WAL&_busy_timeout=10000")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	target, err := sqlitetarget.New(db)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(target.DB() == db)
	// Output:
	// true
}

// A handler writes through Tx: {t} names the physical table of logical table t in
// the generation being written, and Table returns the same name. Readers read the
// view named t.
func ExampleTx() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	store.Append(ctx, "order-1", eventstore.Any(), eventstore.EventData{ID: [16]byte{1}, Type: "Placed"})
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	target, _ := sqlitetarget.Open(ctx, filepath.Join(dir, "read.db"))
	defer target.Close()

	orders := projection.Projection[*sqlitetarget.Tx]{
		Name:    "orders",
		Version: 1,
		Tables:  []string{"orders"},
		Setup: func(ctx context.Context, tx *sqlitetarget.Tx) error {
			fmt.Println("creating", tx.Table("orders"))
			_, err := tx.Exec(ctx, `CREATE TABLE {orders} (id TEXT PRIMARY KEY, events INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
			var n int
			err := tx.QueryRow(ctx, `SELECT count(*) FROM {orders} WHERE id = ?`, e.Stream).Scan(&n)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO {orders} (id, events) VALUES (?, 1)
				ON CONFLICT (id) DO UPDATE SET events = events + 1`, e.Stream)
			return err
		},
	}
	r, _ := projection.NewRunner(store, target, quiet)
	r.Add(orders)
	if err := r.CatchUp(ctx); err != nil {
		fmt.Println(err)
		return
	}
	var events int
	target.DB().QueryRow(`SELECT events FROM orders WHERE id = 'order-1'`).Scan(&events)
	fmt.Println("events of order-1:", events)
	// Output:
	// creating orders_g1
	// events of order-1: 1
}
