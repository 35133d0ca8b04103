package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// writer is the store's single writing connection, held for the store's life.
// Its transactions are plain BEGIN and COMMIT statements on it: a database/sql
// transaction would cost every batch a context and a goroutine of its own, a
// noticeable part of a lone append's CPU.
type writer struct {
	// mu is held by a batch from its BEGIN to its COMMIT or ROLLBACK, and by a
	// snapshot's statement, so the two never interleave on the connection.
	mu   sync.Mutex
	conn *sql.Conn
	// begin starts a batch: BEGIN IMMEDIATE, or BEGIN on a read-only store (whose
	// appends then fail as SQLite refuses their writes).
	begin string
}

// newWriter takes the pool's connection for the writer.
func newWriter(ctx context.Context, db *sql.DB, begin string) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &writer{conn: conn, begin: begin}, nil
}

// exec runs a statement with no arguments on the writer's connection.
func (w *writer) exec(query string) error {
	_, err := w.conn.ExecContext(context.Background(), query)
	return err
}

// rollback ends the batch's transaction, if any is open.
func (w *writer) rollback() { _ = w.exec("ROLLBACK") }

// close returns the connection to its pool.
func (w *writer) close() error {
	if w == nil {
		return nil
	}
	return w.conn.Close()
}

// preparer prepares statements: a pool or a connection.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}
