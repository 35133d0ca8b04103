// Package pgconnect opens pgx pools that are known to reach their server.
package pgconnect

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool opens a pool with cfg and pings the server through it: pgxpool connects
// lazily, and a tool or target must fail at open, not at its first statement.
// On failure the pool is closed and the error is the dial's or the ping's.
func Pool(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
