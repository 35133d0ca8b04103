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

// testSubscribeConcurrent: a subscription from Start, while writers append
// concurrently, sees every event exactly once, in position order, and reports
// CaughtUp exactly once, after the events committed before it started (no gap and no
// repeat across the catch-up/live boundary).
func testSubscribeConcurrent(e *env) {
	preloaded := e.preload()
	sub := e.subscribe(eventstore.Start(), e.own())
	// The writers start at once, so their appends race with the catch-up.
	w := e.startWriters()
	got := sub.collectUntilSentinel(w)

	want := recordedIDs(e.readOwn(eventstore.Start()))
	delivered, caughtUp := e.requireOrderedCaughtUpOnce(got)
	require.GreaterOrEqual(e.t, caughtUp, len(preloaded), "the events committed before subscribing come before CaughtUp")
	require.Equal(e.t, preloaded, delivered[:len(preloaded)])
	require.Equal(e.t, want, delivered, "every event exactly once, in the global log's order")
	require.Len(e.t, delivered, len(preloaded)+w.events+1)

	sub.cancel()
	require.NoError(e.t, sub.end(), "a cancelled subscription ends without error")
}

// preload appends three events to each of three streams and returns their ids in
// the order they were written.
func (e *env) preload() []uuid.UUID {
	e.t.Helper()
	var preloaded []uuid.UUID
	for i := range 3 {
		evs := events(3, "Preloaded")
		e.mustAppend(e.stream(fmt.Sprintf("pre-%d", i)), eventstore.NoStream(), evs...)
		preloaded = append(preloaded, ids(evs)...)
	}
	return preloaded
}

// writers are concurrent appenders, each to a stream of its own.
type writers struct {
	done   chan struct{} // closed when every writer has finished
	errs   []error       // by writer; read them once done is closed
	events int           // how many events they append in all
}

// startWriters starts the configured number of writers, each making appendsEach
// appends of one or two events in turn.
func (e *env) startWriters() *writers {
	w := &writers{
		done:   make(chan struct{}),
		errs:   make([]error, e.cfg.writers),
		events: e.cfg.writers * (e.cfg.appendsEach + e.cfg.appendsEach/2),
	}
	var wg sync.WaitGroup
	for i := range e.cfg.writers {
		wg.Go(func() { w.errs[i] = e.appendInTurns(e.stream(fmt.Sprintf("writer-%d", i))) })
	}
	go func() { wg.Wait(); close(w.done) }()
	return w
}

// appendInTurns makes appendsEach appends to stream, of one event then two, and
// returns the first error.
func (e *env) appendInTurns(stream string) error {
	expected := eventstore.NoStream()
	for i := range e.cfg.appendsEach {
		n := 1 + i%2
		res, err := e.s.Append(e.ctx, stream, expected, events(n, "Written")...)
		if err != nil {
			return err
		}
		expected = eventstore.Exact(res.Revision)
	}
	return nil
}

// collectUntilSentinel returns the subscription's messages until both CaughtUp and a
// sentinel event, appended once the writers are done, have arrived: a subscription
// that starts late may deliver the sentinel in its catch-up, before CaughtUp.
func (s *subscription) collectUntilSentinel(w *writers) []eventstore.Message {
	e := s.e
	e.t.Helper()
	var got []eventstore.Message
	writersDone := w.done
	sentinel := event("Sentinel")
	sawSentinel, sawCaughtUp := false, false
	for !sawSentinel || !sawCaughtUp {
		select {
		case <-writersDone:
			writersDone = nil // a nil channel is never ready: the sentinel goes once
			for i, err := range w.errs {
				require.NoError(e.t, err, "writer %d", i)
			}
			e.mustAppend(e.stream("sentinel"), eventstore.NoStream(), sentinel)
		case msg := <-s.msgs:
			got = append(got, msg)
			sawSentinel = sawSentinel || (!msg.CaughtUp && msg.Event.ID == sentinel.ID)
			sawCaughtUp = sawCaughtUp || msg.CaughtUp
		case err := <-s.ended:
			e.t.Fatalf("subscription ended (error %v) after %d messages", err, len(got))
		case <-time.After(e.cfg.timeout):
			e.t.Fatalf("subscription stalled after %d messages", len(got))
		}
	}
	return got
}

// requireOrderedCaughtUpOnce checks a subscription's messages: event positions grow
// strictly, and CaughtUp comes exactly once, with the position of the last event
// before it. It returns the ids of the events and the index of CaughtUp.
func (e *env) requireOrderedCaughtUpOnce(got []eventstore.Message) (delivered []uuid.UUID, caughtUp int) {
	e.t.Helper()
	caughtUp = -1
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
	return delivered, caughtUp
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
