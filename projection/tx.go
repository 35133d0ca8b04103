package projection

import (
	"context"
	"database/sql"
)

// Tx is the transaction a SQL projection's Setup and Handle write through. It is
// the batch's transaction: the runner commits it together with the checkpoint and
// the per-stream guard, or rolls it all back.
//
// In every query, {t} for a logical table t of the projection is replaced by the
// version's physical table (invoices_v2). Statements with arguments are prepared
// once per batch.
type Tx struct {
	tx     *sql.Tx
	tables *tables
	stmts  map[string]*sql.Stmt
}

func newTx(tx *sql.Tx, t *tables) *Tx { return &Tx{tx: tx, tables: t} }

// Table returns the physical name of logical table t for this version: t_v<N>.
func (t *Tx) Table(name string) string { return PhysicalTable(name, t.tables.version) }

// stmt prepares each distinct query once per transaction.
func (t *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := t.stmts[query]; ok {
		return s, nil
	}
	s, err := t.tx.PrepareContext(ctx, t.tables.expand(query))
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt)
	}
	t.stmts[query] = s
	return s, nil
}

// Exec runs a statement that returns no rows, after expanding {table} names. With
// arguments, the statement is prepared once per transaction and must be a single
// statement; without, query may hold several statements (as in Setup).
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if len(args) == 0 {
		return t.tx.ExecContext(ctx, t.tables.expand(query))
	}
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// Query runs a query, after expanding {table} names.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// QueryRow runs a query expected to return at most one row, after expanding
// {table} names. Errors are deferred to Row.Scan.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := t.stmt(ctx, query)
	if err != nil {
		// Let Row.Scan report the preparation error.
		return t.tx.QueryRowContext(ctx, t.tables.expand(query), args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// SQL returns the underlying transaction, for what Exec and Query don't cover.
// Names are not expanded there: use Table. Do not commit or roll it back.
func (t *Tx) SQL() *sql.Tx { return t.tx }
