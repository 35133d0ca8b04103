package storetest

import (
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var closeCases = []testCase{
	{"CallsAfterClose", testCallsAfterClose},
	{"ClosingEndsSubscriptions", testCloseEndsSubscription},
}

// testCallsAfterClose: every call after Close fails with ErrClosed.
func testCallsAfterClose(e *env) {
	stream := e.stream("closed")
	e.mustAppend(stream, eventstore.NoStream(), event("A"))
	require.NoError(e.t, e.s.Close())

	_, err := e.s.Append(e.ctx, stream, eventstore.Exact(0), event("B"))
	require.ErrorIs(e.t, err, eventstore.ErrClosed, "Append")
	_, err = collect(e.s.ReadStream(e.ctx, stream, 0))
	require.ErrorIs(e.t, err, eventstore.ErrClosed, "ReadStream")
	_, err = collect(e.s.ReadAll(e.ctx, eventstore.Start()))
	require.ErrorIs(e.t, err, eventstore.ErrClosed, "ReadAll")
	n := 0
	for msg, err := range e.s.SubscribeAll(e.ctx, eventstore.Start()) {
		n++
		require.ErrorIs(e.t, err, eventstore.ErrClosed, "SubscribeAll, message %d (caught up %v)", n, msg.CaughtUp)
	}
	require.Equal(e.t, 1, n, "SubscribeAll on a closed store yields one error")
	if h, ok := e.s.(eventstore.HeadReader); ok {
		_, err := h.Head(e.ctx)
		require.ErrorIs(e.t, err, eventstore.ErrClosed, "Head")
	}
}

// testCloseEndsSubscription: an open subscription, live or catching up, ends with
// ErrClosed when the store closes.
func testCloseEndsSubscription(e *env) {
	e.mustAppend(e.stream("a"), eventstore.NoStream(), events(3, "A")...)
	live := e.subscribe(eventstore.Start(), e.own())
	live.events(3)
	live.caughtUp(e.readOwn(eventstore.Start())[2].Position)
	catchingUp := e.subscribe(eventstore.Start(), e.own())
	catchingUp.events(1)

	start := time.Now()
	require.NoError(e.t, e.s.Close())
	for name, sub := range map[string]*subscription{"live": live, "catching up": catchingUp} {
		require.ErrorIs(e.t, sub.end(), eventstore.ErrClosed, "%s subscription", name)
	}
	require.Less(e.t, time.Since(start), e.cfg.timeout, "subscriptions end promptly")
}
