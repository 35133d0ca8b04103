package esdb

import (
	"context"
	"iter"
	"log/slog"
	"regexp"
	"strings"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"google.golang.org/grpc/codes"
)

// SubscribeAll yields the user events after the given position, then one CaughtUp
// message, then live events; see eventstore.Store.
//
// It subscribes to $all from Start or from the given position (the server's start
// is exclusive, as idem's), with a server-side filter that leaves system events out
// (and, when asked, keeps only some stream prefixes or event types); filters are
// applied again here. It remembers the last position it saw, from events and from the
// server's checkpoints, and when the subscription drops (lost connection, server
// restart) it resubscribes from there after a backoff: no event is skipped and none
// is delivered twice. It ends with no error when ctx is done or the caller stops,
// with eventstore.ErrClosed when the store is closed, and with an error when the
// server refuses the subscription for a reason a retry cannot fix.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[eventstore.Message, error] {
	o := backend.ResolveReadOptions(opts)
	return func(yield func(eventstore.Message, error) bool) {
		sub := &subscription{
			s:         s,
			ctx:       ctx,
			opts:      o,
			after:     after,
			yield:     yield,
			cursor:    newAllCursor(after), // the exclusive resume point
			delivered: after,
			backoff:   s.opts.backoffMin,
		}
		if err := backend.ValidateReadAll(o); err != nil {
			sub.fail(err)
			return
		}
		subCtx, cancel := s.untilClosed(ctx)
		defer cancel()
		sub.subCtx = subCtx
		for {
			stream, err := sub.subscribe()
			if err != nil {
				if sub.ended(err) {
					return
				}
				continue
			}
			if !sub.deliver(stream) {
				return
			}
		}
	}
}

// untilClosed returns a context that is also cancelled when the store is closed.
func (s *Store) untilClosed(ctx context.Context) (context.Context, context.CancelFunc) {
	subCtx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-subCtx.Done():
		}
	}()
	return subCtx, cancel
}

// subscription is the state of one SubscribeAll, kept across resubscriptions.
type subscription struct {
	s      *Store
	ctx    context.Context // the caller's
	subCtx context.Context // ctx, also cancelled when the store is closed
	opts   backend.ReadOptions
	after  eventstore.Position
	yield  func(eventstore.Message, error) bool

	cursor    allCursor           // the last position seen, from events and checkpoints
	delivered eventstore.Position // the last position yielded, which CaughtUp carries
	caughtUp  bool
	backoff   time.Duration // the wait before the next resubscription
}

// fail yields err as the subscription's last message.
func (sub *subscription) fail(err error) {
	sub.yield(eventstore.Message{}, backend.SubscribeError(sub.after, err))
}

// subscribe subscribes to $all after the cursor, with the server-side filter.
func (sub *subscription) subscribe() (*esdbclient.Subscription, error) {
	var stream *esdbclient.Subscription
	err := sub.s.withClient(func(c *esdbclient.Client) error {
		var err error
		stream, err = c.SubscribeToAll(sub.subCtx, esdbclient.SubscribeToAllOptions{From: sub.cursor.from(), Filter: serverFilter(sub.opts)})
		return err
	})
	return stream, err
}

// deliver yields what stream receives until it is dropped, and reports whether to
// resubscribe: false when the caller stopped or the subscription has ended.
func (sub *subscription) deliver(stream *esdbclient.Subscription) bool {
	for {
		ev := stream.Recv()
		switch {
		case ev.EventAppeared != nil:
			if !sub.eventAppeared(ev.EventAppeared.OriginalEvent()) {
				_ = stream.Close()
				return false
			}
		case ev.CheckPointReached != nil:
			// Everything up to a checkpoint has been considered by the server's
			// filter: a safe, exclusive place to resume from.
			sub.cursor.moveTo(position(*ev.CheckPointReached))
		case ev.CaughtUp != nil:
			if !sub.caughtUpOnce() {
				_ = stream.Close()
				return false
			}
		case ev.SubscriptionDropped != nil:
			_ = stream.Close()
			return !sub.ended(ev.SubscriptionDropped.Error)
		}
	}
}

// eventAppeared yields e if it is new and wanted, and reports false when the caller
// stopped.
func (sub *subscription) eventAppeared(e *esdbclient.RecordedEvent) bool {
	pos := position(e.Position)
	if !sub.cursor.moveTo(pos) {
		return true // already delivered before a resubscription
	}
	sub.backoff = sub.s.opts.backoffMin // events flow again
	if !wanted(e, sub.opts) {
		return true
	}
	sub.delivered = pos
	return sub.yield(eventstore.Message{Event: toRecorded(e), Position: pos}, nil)
}

// caughtUpOnce yields CaughtUp the first time the server reports it, not again
// after a resubscription, and reports false when the caller stopped.
func (sub *subscription) caughtUpOnce() bool {
	if sub.caughtUp {
		return true
	}
	sub.caughtUp = true
	return sub.yield(eventstore.Message{CaughtUp: true, Position: sub.delivered}, nil)
}

// ended reports how a failed or dropped subscription ends: true (after yielding any
// error) when it must not be retried; false after the backoff, to resubscribe.
func (sub *subscription) ended(err error) bool {
	switch {
	case sub.s.isClosed():
		sub.fail(eventstore.ErrClosed)
		return true
	case sub.ctx.Err() != nil:
		return true
	case !retryable(err):
		sub.fail(mapError(sub.ctx, err))
		return true
	case !sub.wait(err):
		if sub.s.isClosed() {
			sub.fail(eventstore.ErrClosed)
		}
		return true
	}
	return false
}

// wait sleeps before a resubscription, doubling the next backoff up to its maximum;
// false when the subscription must end instead.
func (sub *subscription) wait(err error) bool {
	s := sub.s
	s.opts.logger.LogAttrs(sub.ctx, slog.LevelWarn, "eventstoredb: subscription dropped, resubscribing",
		slog.String("from", sub.cursor.pos.String()), slog.Duration("backoff", sub.backoff), slog.Any("error", err))
	t := time.NewTimer(sub.backoff)
	defer t.Stop()
	sub.backoff = min(2*sub.backoff, s.opts.backoffMax)
	select {
	case <-sub.subCtx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retryable reports whether a failed or dropped subscription may be resumed: the
// connection was lost, the server is restarting or not the leader, or the client
// must be rebuilt.
func retryable(err error) bool {
	if e, ok := clientError(err); ok {
		switch e.Code() {
		case esdbclient.ErrorUnavailable, esdbclient.ErrorCodeDeadlineExceeded, esdbclient.ErrorAborted,
			esdbclient.ErrorCodeConnectionClosed, esdbclient.ErrorCodeNotLeader:
			return true
		}
	}
	// Subscription.Recv reports drops as raw gRPC statuses, not client errors.
	switch grpcCode(err) {
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.Internal:
		return true
	}
	return false
}

// serverFilter is the server-side filter for opts: system events are always left
// out; stream prefixes or event types narrow it further (the client takes one filter
// kind, so with both, types are checked here only).
func serverFilter(o backend.ReadOptions) *esdbclient.SubscriptionFilter {
	if len(o.StreamPrefixes) > 0 {
		usable := true
		for _, p := range o.StreamPrefixes {
			usable = usable && p != ""
		}
		if usable {
			return &esdbclient.SubscriptionFilter{Type: esdbclient.StreamFilterType, Prefixes: o.StreamPrefixes}
		}
	}
	if len(o.EventTypes) > 0 {
		quoted := make([]string, len(o.EventTypes))
		for i, t := range o.EventTypes {
			quoted[i] = regexp.QuoteMeta(t)
		}
		return &esdbclient.SubscriptionFilter{Type: esdbclient.EventFilterType, Regex: "^(?:" + strings.Join(quoted, "|") + ")$"}
	}
	return esdbclient.ExcludeSystemEventsFilter()
}
