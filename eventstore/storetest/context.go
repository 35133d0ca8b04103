package storetest

import (
	"context"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var contextCases = []testCase{
	{"AppendCancelled", testAppendCancelled},
	{"ReadCancelled", testReadCancelled},
	{"ReadCancelledWhileIterating", testReadCancelledWhileIterating},
}

func (e *env) cancelled() context.Context {
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	return ctx
}

// testAppendCancelled: an append with a cancelled context fails with the
// context's error and writes nothing (G11).
func testAppendCancelled(e *env) {
	missing := e.stream("cancel-missing")
	_, err := e.s.Append(e.cancelled(), missing, eventstore.NoStream(), events(2, "A")...)
	require.ErrorIs(e.t, err, context.Canceled)
	e.requireMissing(missing)

	existing := e.stream("cancel-existing")
	before := events(1, "A")
	e.mustAppend(existing, eventstore.NoStream(), before...)
	for _, expected := range []eventstore.ExpectedRevision{eventstore.Exact(0), eventstore.Any(), eventstore.StreamExists()} {
		_, err = e.s.Append(e.cancelled(), existing, expected, events(2, "B")...)
		require.ErrorIs(e.t, err, context.Canceled, "expecting %s", expected)
	}
	require.Equal(e.t, ids(before), e.streamIDs(existing), "nothing written")
	require.Len(e.t, e.readOwn(eventstore.Start()), 1, "nothing written anywhere")
}

// testReadCancelled: reads with a cancelled context yield the context's error.
func testReadCancelled(e *env) {
	stream := e.stream("read-cancel")
	e.mustAppend(stream, eventstore.NoStream(), events(3, "A")...)

	evs, err := collect(e.s.ReadStream(e.cancelled(), stream, 0))
	require.ErrorIs(e.t, err, context.Canceled, "ReadStream")
	require.Empty(e.t, evs)

	evs, err = collect(e.s.ReadStream(e.cancelled(), stream, eventstore.StreamEnd, eventstore.Backwards()))
	require.ErrorIs(e.t, err, context.Canceled, "ReadStream backwards")
	require.Empty(e.t, evs)

	evs, err = collect(e.s.ReadAll(e.cancelled(), eventstore.Start(), e.own()))
	require.ErrorIs(e.t, err, context.Canceled, "ReadAll")
	require.Empty(e.t, evs)

	if h, ok := e.s.(eventstore.HeadReader); ok {
		_, err := h.Head(e.cancelled())
		require.ErrorIs(e.t, err, context.Canceled, "Head")
	}
}

// testReadCancelledWhileIterating: a context cancelled during a read ends it with
// the context's error (a store may deliver events it already fetched first).
func testReadCancelledWhileIterating(e *env) {
	stream := e.stream("read-cancel-mid")
	e.mustAppend(stream, eventstore.NoStream(), events(20, "A")...)
	reads := map[string]func(ctx context.Context) func(func(eventstore.RecordedEvent, error) bool){
		"ReadStream": func(ctx context.Context) func(func(eventstore.RecordedEvent, error) bool) {
			return e.s.ReadStream(ctx, stream, 0)
		},
		"ReadAll": func(ctx context.Context) func(func(eventstore.RecordedEvent, error) bool) {
			return e.s.ReadAll(ctx, eventstore.Start(), e.own())
		},
	}
	for name, read := range reads {
		e.run(name, func(e *env) {
			ctx, cancel := context.WithCancel(e.ctx)
			defer cancel()
			n := 0
			var last error
			for _, err := range read(ctx) {
				if err != nil {
					last = err
					break
				}
				n++
				cancel()
			}
			require.ErrorIs(e.t, last, context.Canceled, "the read ends with the context's error, after %d events", n)
			require.Less(e.t, n, 20, "the read stopped early")
		})
	}
}
