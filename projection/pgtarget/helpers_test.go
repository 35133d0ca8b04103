package pgtarget_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// Tests run against the server IDEM_POSTGRES_URL names (pgtest: skipped without
// it, failed under CI), each in a schema of its own, dropped when it ends.

type Tx = *pgtarget.Tx

var quiet = projection.WithLogger(slog.New(slog.DiscardHandler))

// pool returns a new pool on the test server, closed when t ends.
func pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// open returns a target on a new pool in a new schema.
func open(t testing.TB, opts ...pgtarget.Option) *pgtarget.Target {
	t.Helper()
	return openSchema(t, pgtest.Schema(t), opts...)
}

// openSchema returns a target on a new pool in schema (not dropped: use a schema
// of pgtest.Schema).
func openSchema(t testing.TB, schema string, opts ...pgtarget.Option) *pgtarget.Target {
	t.Helper()
	tg, err := pgtarget.New(pool(t), append([]pgtarget.Option{pgtarget.WithSchema(schema)}, opts...)...)
	require.NoError(t, err)
	return tg
}
