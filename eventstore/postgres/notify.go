package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// listener keeps one connection, outside the pool, LISTENing on the schema's
// channel, and turns every notification into a commit signal broadcast: appends
// of other Stores and other processes wake this process's subscriptions at once.
// It starts with the first subscription and runs until Close. When its connection
// fails it reconnects with backoff; subscriptions poll meanwhile, and it
// broadcasts once reconnected, so nothing committed during the outage waits for
// the next poll.
type listener struct {
	s       *Store
	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func (l *listener) init(s *Store) { l.s = s }

// ensure starts the listener unless it runs, was stopped, or notifications are off.
func (l *listener) ensure() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped || !l.s.cfg.listen {
		return
	}
	l.started = true
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Go(func() { l.run(ctx) })
}

// stop ends the listener and waits for it.
func (l *listener) stop() {
	l.mu.Lock()
	l.stopped = true
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	l.wg.Wait()
}

// run listens until ctx ends, reconnecting after failures.
func (l *listener) run(ctx context.Context) {
	s := l.s
	backoff := 100 * time.Millisecond
	failing := false
	for ctx.Err() == nil {
		err := l.listen(ctx, func() {
			backoff = 100 * time.Millisecond
			if failing {
				s.cfg.logger.Info("event store: LISTEN connection back", "schema", s.cfg.schema)
				failing = false
			}
		})
		if ctx.Err() != nil {
			return
		}
		if !failing {
			s.cfg.logger.Warn("event store: LISTEN connection lost; subscriptions poll until it is back",
				"schema", s.cfg.schema, "error", storageError(nil, "listen", err))
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen connects, LISTENs and broadcasts every notification until the
// connection fails or ctx ends. up is called once listening.
func (l *listener) listen(ctx context.Context, up func()) error {
	s := l.s
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel(s.cfg.schema)}.Sanitize()); err != nil {
		return err
	}
	up()
	// Whatever was committed before LISTEN took effect is read by the subscriptions
	// this wakes.
	s.commits.Broadcast()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.commits.Broadcast()
	}
}
