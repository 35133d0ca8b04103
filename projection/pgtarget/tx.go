package pgtarget

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Tx is the transaction a projection's Setup and Handle write through: the
// Write's transaction, which the runner commits together with the checkpoint and
// the per-stream guard, or rolls back whole (G8).
//
// In every query, {t} for a logical table t of the projection is replaced by the
// generation's physical table, quoted and qualified with the schema
// ("idem_read"."invoices_g2", see PhysicalTable): handlers need not know the
// schema. Arguments are PostgreSQL's $1, $2...; pgx prepares each distinct query
// once per connection. Exec without arguments may hold several statements
// (handy in Setup).
//
// Errors are the driver's, classified: a lost connection, a serialization
// failure, a deadlock or a lock timeout matches projection.ErrTargetUnavailable
// (a handler that returns such an error, wrapped or not, makes the runner retry
// the batch rather than count the event as poison). A failed statement aborts
// the transaction: the batch is rolled back.
type Tx struct {
	tx     pgx.Tx
	tables *tables
}

// Table returns the quoted, schema-qualified physical name of logical table name
// in this generation, as {name} expands to.
func (t *Tx) Table(name string) string {
	if q, ok := t.tables.physical[name]; ok {
		return q
	}
	return qualified(t.tables.schema, PhysicalTable(name, t.tables.generation))
}

// Exec runs a statement that returns no rows, after expanding {table} names.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.tx.Exec(ctx, t.tables.expand(query), args...)
	return tag, storageError(ctx, err)
}

// Query runs a query, after expanding {table} names. Close the rows before the
// next statement.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (pgx.Rows, error) {
	r, err := t.tx.Query(ctx, t.tables.expand(query), args...)
	if err != nil {
		return r, storageError(ctx, err)
	}
	return rows{r, ctx}, nil
}

// rows classifies the error of Err.
type rows struct {
	pgx.Rows
	ctx context.Context
}

func (r rows) Err() error { return storageError(r.ctx, r.Rows.Err()) }

// QueryRow runs a query expected to return at most one row, after expanding
// {table} names. Errors are deferred to Row.Scan (pgx.ErrNoRows when there is no
// row).
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) pgx.Row {
	return row{t.tx.QueryRow(ctx, t.tables.expand(query), args...), ctx}
}

// row classifies the error of Scan.
type row struct {
	pgx.Row
	ctx context.Context
}

func (r row) Scan(dest ...any) error { return storageError(r.ctx, r.Row.Scan(dest...)) }

// SQL returns the underlying transaction, for what Exec and Query don't cover
// (CopyFrom, SendBatch). Names are not expanded there: use Table. Do not commit
// or roll it back.
func (t *Tx) SQL() pgx.Tx { return t.tx }
