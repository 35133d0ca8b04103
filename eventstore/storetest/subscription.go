package storetest

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

// subscription runs SubscribeAll in a goroutine and hands its messages over.
type subscription struct {
	e      *env
	msgs   chan eventstore.Message
	ended  chan error // receives the subscription's error (nil if none) when it ends
	cancel context.CancelFunc
}

// subscribe starts a subscription that ends when the test does.
func (e *env) subscribe(after eventstore.Position, opts ...eventstore.ReadOption) *subscription {
	ctx, cancel := context.WithCancel(e.ctx)
	sub := &subscription{e: e, msgs: make(chan eventstore.Message), ended: make(chan error, 1), cancel: cancel}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg, err := range e.s.SubscribeAll(ctx, after, opts...) {
			if err != nil {
				sub.ended <- err
				return
			}
			select {
			case sub.msgs <- msg:
			case <-ctx.Done():
				sub.ended <- nil
				return
			}
		}
		sub.ended <- nil
	}()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(e.cfg.timeout):
			e.t.Errorf("subscription did not end within %s of its context's cancellation", e.cfg.timeout)
		}
	})
	return sub
}

// next returns the next message, failing the test if none comes in time or the
// subscription ends.
func (s *subscription) next() eventstore.Message {
	s.e.t.Helper()
	select {
	case msg := <-s.msgs:
		return msg
	case err := <-s.ended:
		s.ended <- err
		s.e.t.Fatalf("subscription ended (error %v) while a message was expected", err)
	case <-time.After(s.e.cfg.timeout):
		s.e.t.Fatalf("no subscription message within %s", s.e.cfg.timeout)
	}
	return eventstore.Message{}
}

// requireQuiet fails if a message arrives within a short while.
func (s *subscription) requireQuiet() {
	s.e.t.Helper()
	select {
	case msg := <-s.msgs:
		s.e.t.Fatalf("unexpected subscription message: caught up %v, event %s of %s at %s", msg.CaughtUp, msg.Event.ID, msg.Event.Stream, msg.Position)
	case <-time.After(50 * time.Millisecond):
	}
}

// end waits for the subscription to end and returns its error.
func (s *subscription) end() error {
	s.e.t.Helper()
	for {
		select {
		case <-s.msgs: // drain whatever was in flight
		case err := <-s.ended:
			return err
		case <-time.After(s.e.cfg.timeout):
			s.e.t.Fatalf("subscription did not end within %s", s.e.cfg.timeout)
			return nil
		}
	}
}

// events reads n event messages, failing on a CaughtUp message.
func (s *subscription) events(n int) []eventstore.RecordedEvent {
	s.e.t.Helper()
	out := make([]eventstore.RecordedEvent, 0, n)
	for len(out) < n {
		msg := s.next()
		require.False(s.e.t, msg.CaughtUp, "CaughtUp after %d of %d events", len(out), n)
		require.Equal(s.e.t, msg.Event.Position, msg.Position, "Message.Position is the event's position")
		out = append(out, msg.Event)
	}
	return out
}

// caughtUp reads the next message and checks that it is CaughtUp at position p.
func (s *subscription) caughtUp(p eventstore.Position) {
	s.e.t.Helper()
	msg := s.next()
	require.True(s.e.t, msg.CaughtUp, "expected CaughtUp, got event %s of %s at %s", msg.Event.ID, msg.Event.Stream, msg.Position)
	require.Equal(s.e.t, p, msg.Position, "CaughtUp carries the position of the last event delivered")
}
