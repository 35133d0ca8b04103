package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// BatchStats reports how many batches ran, how many appends they held, and the
// largest batch.
func BatchStats(s *Store) (batches, appends, largest int64) {
	return s.stats.Load()
}

// SetCommitDelay makes every batch sleep in the database for delay() after its
// appends and before its commit, holding its locks; nil removes the hook.
func SetCommitDelay(s *Store, delay func() time.Duration) {
	if delay == nil {
		s.hooks.commitDelay.Store(nil)
		return
	}
	s.hooks.commitDelay.Store(&delay)
}

// UseNaivePositions creates, in the store's schema, the append function without
// the position lock (positions straight from the sequence, committed in any
// order) and makes the store call it: the classic scheme whose readers skip
// events, for the benchmark of what the lock costs and the test that shows the
// skip.
func UseNaivePositions(ctx context.Context, s *Store) error {
	const name = "idem_append_naive"
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, appendFunction(s.cfg.schema, name, false)); err != nil {
		return err
	}
	s.sql = newStatements(s.cfg.schema, name)
	return nil
}

// PositionLockKeys returns the advisory lock keys that serialise the positions
// of schema, for tests that hold the lock from outside.
func PositionLockKeys(schema string) (int32, int32) { return positionLock, lockKey(schema) }

// SchemaVersion is the schema version this package writes.
const SchemaVersion = schemaVersion

// NotifyChannel is the NOTIFY channel of schema's appends.
func NotifyChannel(schema string) string { return channel(schema) }

// QueueLen is the number of appends queued behind the running batch's leader.
func QueueLen(s *Store) int { return s.group.Queued() }

// MigrateTo creates or migrates schema up to version only, as an older release
// of this package left it, for the tests of later migrations.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, schema string, version int) error {
	return migrateTo(ctx, pool, schema, version, slog.New(slog.DiscardHandler))
}
