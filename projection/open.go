package projection

import (
	"database/sql"
	"fmt"
	"net/url"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver

	"github.com/idemkit/idem/internal/sqlitedsn"
)

// OpenDB opens (creating it if needed) a SQLite database to hold read models, with
// the settings the runner expects: WAL journal (readers are not blocked by the
// runner's transactions and see committed snapshots), synchronous=NORMAL, and a
// busy timeout so that writers in other processes (an event store in the same
// file, another runner during a blue/green deploy) wait instead of failing.
//
// NORMAL is safe for read models: a power loss can lose only the last committed
// batches, and it loses each one whole, read-model changes and checkpoint together
// (they share a transaction), so the restarted runner applies those events again,
// exactly once (G8). A reactor may repeat its last side effects, with the same
// idempotency keys. Open the database yourself with _synchronous=FULL if the target
// must never move back.
func OpenDB(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	db, err := sql.Open("sqlite3", sqlitedsn.DSN(path, q))
	if err != nil {
		return nil, fmt.Errorf("open projection database %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open projection database %s: %w", path, err)
	}
	return db, nil
}
