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
		fail := func(err error) { yield(eventstore.Message{}, backend.SubscribeError(after, err)) }
		if err := backend.ValidateReadAll(o); err != nil {
			fail(err)
			return
		}
		subCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-s.done:
				cancel()
			case <-subCtx.Done():
			}
		}()

		resume, seen := after, after != eventstore.Start() // exclusive resume point
		delivered := after                                 // last position yielded
		caughtUp := false
		backoff := s.opts.backoffMin
		// wait sleeps before a resubscription; false when the subscription must end.
		wait := func(err error) bool {
			s.opts.logger.LogAttrs(ctx, slog.LevelWarn, "eventstoredb: subscription dropped, resubscribing",
				slog.String("from", resume.String()), slog.Duration("backoff", backoff), slog.Any("error", err))
			t := time.NewTimer(backoff)
			defer t.Stop()
			backoff = min(2*backoff, s.opts.backoffMax)
			select {
			case <-subCtx.Done():
				return false
			case <-t.C:
				return true
			}
		}
		// ended reports how a failed or dropped subscription ends: true (after
		// yielding any error) when it must not be retried.
		ended := func(err error) bool {
			switch {
			case s.isClosed():
				fail(eventstore.ErrClosed)
				return true
			case ctx.Err() != nil:
				return true
			case !retryable(err):
				fail(mapError(ctx, err))
				return true
			case !wait(err):
				if s.isClosed() {
					fail(eventstore.ErrClosed)
				}
				return true
			}
			return false
		}

		for {
			var from esdbclient.AllPosition = esdbclient.Start{}
			if seen {
				from = esdbclient.Position{Commit: resume.Commit, Prepare: resume.Prepare}
			}
			var sub *esdbclient.Subscription
			err := s.withClient(func(c *esdbclient.Client) error {
				var err error
				sub, err = c.SubscribeToAll(subCtx, esdbclient.SubscribeToAllOptions{From: from, Filter: serverFilter(o)})
				return err
			})
			if err != nil {
				if ended(err) {
					return
				}
				continue
			}
			for {
				ev := sub.Recv()
				switch {
				case ev.EventAppeared != nil:
					raw := ev.EventAppeared.OriginalEvent()
					pos := eventstore.Position{Commit: raw.Position.Commit, Prepare: raw.Position.Prepare}
					if seen && pos.Compare(resume) <= 0 {
						continue // already delivered before a resubscription
					}
					resume, seen = pos, true
					backoff = s.opts.backoffMin
					if isSystem(raw.StreamID, raw.EventType) || !o.Matches(raw.StreamID, raw.EventType) {
						continue
					}
					delivered = pos
					if !yield(eventstore.Message{Event: toRecorded(raw), Position: pos}, nil) {
						_ = sub.Close()
						return
					}
				case ev.CheckPointReached != nil:
					// Everything up to a checkpoint has been considered by the server's
					// filter: a safe, exclusive place to resume from.
					cp := eventstore.Position{Commit: ev.CheckPointReached.Commit, Prepare: ev.CheckPointReached.Prepare}
					if !seen || cp.Compare(resume) > 0 {
						resume, seen = cp, true
					}
				case ev.CaughtUp != nil:
					if !caughtUp {
						caughtUp = true
						if !yield(eventstore.Message{CaughtUp: true, Position: delivered}, nil) {
							_ = sub.Close()
							return
						}
					}
				case ev.SubscriptionDropped != nil:
					_ = sub.Close()
					if ended(ev.SubscriptionDropped.Error) {
						return
					}
				}
				if ev.SubscriptionDropped != nil {
					break
				}
			}
		}
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
