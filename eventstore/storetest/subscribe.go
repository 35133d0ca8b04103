package storetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var subscribeCases = []testCase{
	{"CatchUpThenLiveWithConcurrentWriters", testSubscribeConcurrent},
	{"FromMiddle", testSubscribeFromMiddle},
	{"NothingToCatchUp", testSubscribeNothingToCatchUp},
	{"Filtered", testSubscribeFiltered},
	{"EndsOnCancel", testSubscribeEndsOnCancel},
	{"EndsWhenConsumerStops", testSubscribeConsumerStops},
	{"BackwardsRefused", testSubscribeBackwards},
}

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

// testSubscribeConcurrent: a subscription from Start, while writers append
// concurrently, sees every event exactly once, in position order, and reports
// CaughtUp exactly once, after the events committed before it started (no gap and no
// repeat across the catch-up/live boundary).
func testSubscribeConcurrent(e *env) {
	var preloaded []uuid.UUID
	for i := range 3 {
		evs := events(3, "Preloaded")
		e.mustAppend(e.stream(fmt.Sprintf("pre-%d", i)), eventstore.NoStream(), evs...)
		preloaded = append(preloaded, ids(evs)...)
	}
	sub := e.subscribe(eventstore.Start(), e.own())

	// The writers start at once, so their appends race with the catch-up.
	var wg sync.WaitGroup
	errs := make([]error, e.cfg.writers)
	for w := range e.cfg.writers {
		wg.Go(func() {
			stream := e.stream(fmt.Sprintf("writer-%d", w))
			expected := eventstore.NoStream()
			for i := range e.cfg.appendsEach {
				n := 1 + i%2
				res, err := e.s.Append(e.ctx, stream, expected, events(n, "Written")...)
				if err != nil {
					errs[w] = err
					return
				}
				expected = eventstore.Exact(res.Revision)
			}
		})
	}

	var got []eventstore.Message
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	sentinel := event("Sentinel")
	// Collect until both the sentinel and CaughtUp arrived: a subscription that
	// starts late may deliver the sentinel in its catch-up, before CaughtUp.
	sawSentinel, sawCaughtUp := false, false
collecting:
	for {
		select {
		case <-writersDone:
			writersDone = nil
			for w, err := range errs {
				require.NoError(e.t, err, "writer %d", w)
			}
			e.mustAppend(e.stream("sentinel"), eventstore.NoStream(), sentinel)
		case msg := <-sub.msgs:
			got = append(got, msg)
			sawSentinel = sawSentinel || (!msg.CaughtUp && msg.Event.ID == sentinel.ID)
			sawCaughtUp = sawCaughtUp || msg.CaughtUp
			if sawSentinel && sawCaughtUp {
				break collecting
			}
		case err := <-sub.ended:
			e.t.Fatalf("subscription ended (error %v) after %d messages", err, len(got))
		case <-time.After(e.cfg.timeout):
			e.t.Fatalf("subscription stalled after %d messages", len(got))
		}
	}

	want := recordedIDs(e.readOwn(eventstore.Start()))
	var delivered []uuid.UUID
	caughtUp := -1
	var last eventstore.Position
	for i, msg := range got {
		if msg.CaughtUp {
			require.Equal(e.t, -1, caughtUp, "CaughtUp is reported once, again at message %d", i)
			caughtUp = i
			require.Equal(e.t, last, msg.Position, "CaughtUp carries the position of the last event delivered")
			continue
		}
		require.Equal(e.t, msg.Event.Position, msg.Position)
		require.True(e.t, last.Less(msg.Position), "message %d: positions grow strictly: %s then %s", i, last, msg.Position)
		last = msg.Position
		delivered = append(delivered, msg.Event.ID)
	}
	require.NotEqual(e.t, -1, caughtUp, "CaughtUp was reported")
	require.GreaterOrEqual(e.t, caughtUp, len(preloaded), "the events committed before subscribing come before CaughtUp")
	require.Equal(e.t, preloaded, delivered[:len(preloaded)])
	require.Equal(e.t, want, delivered, "every event exactly once, in the global log's order")
	require.Len(e.t, delivered, len(preloaded)+e.cfg.writers*(e.cfg.appendsEach+e.cfg.appendsEach/2)+1)

	sub.cancel()
	require.NoError(e.t, sub.end(), "a cancelled subscription ends without error")
}

// testSubscribeFromMiddle: a subscription after a position delivers only what
// follows it, then CaughtUp, then live events.
func testSubscribeFromMiddle(e *env) {
	stream := e.stream("middle")
	e.tenEvents(stream)
	all := e.readOwn(eventstore.Start())
	require.Len(e.t, all, 12)

	sub := e.subscribe(all[4].Position, e.own())
	require.Equal(e.t, recordedIDs(all[5:]), recordedIDs(sub.events(len(all)-5)), "catch-up after a position excludes it")
	sub.caughtUp(all[len(all)-1].Position)

	live := events(2, "Live")
	res := e.mustAppend(stream, eventstore.Exact(9), live...)
	got := sub.events(2)
	require.Equal(e.t, ids(live), recordedIDs(got))
	require.Equal(e.t, []uint64{10, 11}, e.revisions(stream, got))
	require.Equal(e.t, res.Position, got[1].Position)
	sub.requireQuiet()
}

// testSubscribeNothingToCatchUp: with nothing to deliver, CaughtUp comes first and
// carries the subscription's start; live events follow.
func testSubscribeNothingToCatchUp(e *env) {
	sub := e.subscribe(eventstore.Start(), e.own())
	sub.caughtUp(eventstore.Start())
	sub.requireQuiet()
	ev := event("Live")
	e.mustAppend(e.stream("live"), eventstore.NoStream(), ev)
	require.Equal(e.t, ev.ID, sub.events(1)[0].ID)

	// From the end of the log: CaughtUp carries the given position.
	head := e.readOwn(eventstore.Start())[0].Position
	sub2 := e.subscribe(head, e.own())
	sub2.caughtUp(head)
	sub2.requireQuiet()
}

// testSubscribeFiltered: filters apply to both catch-up and live events.
func testSubscribeFiltered(e *env) {
	e.interleaved()
	order := e.stream("order-")
	var want []eventstore.RecordedEvent
	for _, ev := range e.readOwn(eventstore.Start()) {
		if ev.Type == "OrderShipped" && ev.Stream[:len(order)] == order {
			want = append(want, ev)
		}
	}
	require.Len(e.t, want, 4)

	sub := e.subscribe(eventstore.Start(), eventstore.StreamPrefix(order), eventstore.EventTypes("OrderShipped"))
	require.Equal(e.t, recordedIDs(want), recordedIDs(sub.events(len(want))))
	sub.caughtUp(want[len(want)-1].Position)

	e.mustAppend(e.stream("customer-1"), eventstore.Any(), event("OrderShipped")) // wrong prefix
	e.mustAppend(e.stream("order-1"), eventstore.Any(), event("OrderPlaced"))     // wrong type
	match := event("OrderShipped")
	e.mustAppend(e.stream("order-3"), eventstore.NoStream(), match)
	require.Equal(e.t, match.ID, sub.events(1)[0].ID, "only the matching live event is delivered")
	sub.requireQuiet()
}

// testSubscribeEndsOnCancel: cancelling the context ends a live subscription with
// no error, and a subscription started with a cancelled context yields no error.
func testSubscribeEndsOnCancel(e *env) {
	e.mustAppend(e.stream("a"), eventstore.NoStream(), event("A"))
	ctx, cancel := context.WithCancel(e.ctx)
	ended := make(chan error, 1)
	caughtUp := make(chan struct{})
	go func() {
		for msg, err := range e.s.SubscribeAll(ctx, eventstore.Start(), e.own()) {
			if err != nil {
				ended <- err
				return
			}
			if msg.CaughtUp {
				close(caughtUp)
			}
		}
		ended <- nil
	}()
	select {
	case <-caughtUp:
	case err := <-ended:
		e.t.Fatalf("subscription ended before catching up: %v", err)
	case <-time.After(e.cfg.timeout):
		e.t.Fatal("no CaughtUp")
	}
	cancel()
	select {
	case err := <-ended:
		require.NoError(e.t, err, "a subscription ends without error when its context is done")
	case <-time.After(e.cfg.timeout):
		e.t.Fatal("subscription did not end when its context was cancelled")
	}

	cancelled, cancel2 := context.WithCancel(e.ctx)
	cancel2()
	for _, err := range e.s.SubscribeAll(cancelled, eventstore.Start(), e.own()) {
		require.NoError(e.t, err, "a subscription with a done context ends without error")
	}
}

// testSubscribeConsumerStops: breaking out of the loop ends the subscription, in
// catch-up and when live.
func testSubscribeConsumerStops(e *env) {
	e.mustAppend(e.stream("a"), eventstore.NoStream(), events(3, "A")...)
	for _, stopAt := range []string{"event", "caught up", "live event"} {
		e.run(stopAt, func(e *env) {
			done := make(chan struct{})
			live := make(chan struct{})
			go func() {
				defer close(done)
				for msg, err := range e.s.SubscribeAll(e.ctx, eventstore.Start(), e.own()) {
					if err != nil {
						return
					}
					switch {
					case stopAt == "event" && !msg.CaughtUp:
						return
					case stopAt == "caught up" && msg.CaughtUp:
						return
					case stopAt == "live event" && msg.CaughtUp:
						close(live)
					case stopAt == "live event" && msg.Event.Type == "Live":
						return
					}
				}
			}()
			if stopAt == "live event" {
				select {
				case <-live:
				case <-time.After(e.cfg.timeout):
					e.t.Fatal("no CaughtUp")
				}
				e.mustAppend(e.stream("live-"+uuid.NewString()[:4]), eventstore.NoStream(), event("Live"))
			}
			select {
			case <-done:
			case <-time.After(e.cfg.timeout):
				e.t.Fatal("subscription went on after the consumer stopped ranging")
			}
		})
	}
}

func testSubscribeBackwards(e *env) {
	n := 0
	for _, err := range e.s.SubscribeAll(e.ctx, eventstore.Start(), eventstore.Backwards()) {
		n++
		require.ErrorIs(e.t, err, eventstore.ErrInvalidReadOption)
	}
	require.Equal(e.t, 1, n, "a refused subscription yields exactly one error and ends")
}
