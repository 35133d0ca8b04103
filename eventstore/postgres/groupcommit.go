package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// connectionFor takes the batch's connection. The wait is the batch's (bounded by
// its ctx, the store's timeout), but the leader's caller may give up while it
// lasts: then errLeaderGone, and the leader's append is abandoned.
func (s *Store) connectionFor(ctx context.Context, leader *backend.Request) (*pgxpool.Conn, error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(leader.Ctx, cancel)
	defer stop()
	conn, err := s.pool.Acquire(actx)
	if err == nil {
		return conn, nil
	}
	if leader.Ctx.Err() != nil && ctx.Err() == nil && leader.AbandonLeader() {
		return nil, errLeaderGone
	}
	if s.isClosed.Load() {
		return nil, eventstore.ErrClosed
	}
	if ctx.Err() != nil {
		return nil, &Error{Op: "acquire connection for append batch", Kind: eventstore.ErrUnavailable,
			Err: poolExhausted(s.pool, s.cfg.timeout)}
	}
	return nil, storageError(nil, "acquire connection for append batch", err)
}
