package storetest

import (
	"bytes"
	"strings"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var inputCases = []testCase{
	{"InvalidStreamNames", testInvalidStreamNames},
	{"InvalidEvents", testInvalidEvents},
	{"AppendSizeLimit", testAppendSizeLimit},
	{"AtomicOnBadEvent", testAtomicOnBadEvent},
}

// testInvalidStreamNames: names an append refuses, with *InvalidStreamNameError,
// writing nothing anywhere (G11).
func testInvalidStreamNames(e *env) {
	names := map[string]string{
		"Empty":        "",
		"System":       "$sys-" + e.prefix,
		"Space":        e.stream("has space"),
		"Tab":          e.stream("tab\there"),
		"Newline":      e.stream("new\nline"),
		"Control":      e.stream("nul\x00"),
		"InvalidUTF8":  e.stream("bad\xff"),
		"TooLong":      e.stream(strings.Repeat("x", eventstore.MaxStreamNameLength)),
		"NonBreakSpce": e.stream("nbsp\u00a0"),
	}
	before := e.logSize()
	for name, stream := range names {
		e.run(name, func(e *env) {
			for _, expected := range []eventstore.ExpectedRevision{eventstore.Any(), eventstore.NoStream()} {
				_, err := e.s.Append(e.ctx, stream, expected, event("A"))
				require.ErrorIs(e.t, err, eventstore.ErrInvalidStreamName)
				var invalid *eventstore.InvalidStreamNameError
				require.ErrorAs(e.t, err, &invalid)
				require.Equal(e.t, stream, invalid.Name)
				require.NotErrorIs(e.t, err, eventstore.ErrWrongExpectedRevision)
			}
		})
	}
	// The longest allowed name works.
	longest := e.prefix + strings.Repeat("x", eventstore.MaxStreamNameLength-len(e.prefix))
	e.mustAppend(longest, eventstore.NoStream(), event("A"))
	require.Equal(e.t, before+1, e.logSize(), "refused appends wrote nothing")
}

// testInvalidEvents: malformed appends fail with typed errors saying which event
// and why, and write nothing (G11).
func testInvalidEvents(e *env) {
	a, b := event("A"), event("B")
	zero := event("A")
	zero.ID = uuid.Nil
	untyped := event("")
	badType := event("bad\xff")
	cases := []struct {
		name     string
		expected eventstore.ExpectedRevision
		events   []eventstore.EventData
		sentinel error
		index    int // for *InvalidEventError; -1 when not one
	}{
		{"NoEvents", eventstore.NoStream(), nil, eventstore.ErrInvalidEvent, 0},
		{"ZeroID", eventstore.NoStream(), []eventstore.EventData{zero}, eventstore.ErrInvalidEvent, 0},
		{"ZeroIDLater", eventstore.NoStream(), []eventstore.EventData{a, b, zero}, eventstore.ErrInvalidEvent, 2},
		{"EmptyType", eventstore.Any(), []eventstore.EventData{a, untyped}, eventstore.ErrInvalidEvent, 1},
		{"TypeNotUTF8", eventstore.Any(), []eventstore.EventData{badType}, eventstore.ErrInvalidEvent, 0},
		{"RepeatedID", eventstore.NoStream(), []eventstore.EventData{a, b, a}, eventstore.ErrInvalidEvent, 2},
		{"ZeroExpectedRevision", eventstore.ExpectedRevision{}, []eventstore.EventData{a}, eventstore.ErrInvalidExpectedRevision, -1},
	}
	for _, c := range cases {
		e.run(c.name, func(e *env) {
			stream := e.stream("invalid-" + c.name)
			_, err := e.s.Append(e.ctx, stream, c.expected, c.events...)
			require.ErrorIs(e.t, err, c.sentinel)
			require.NotErrorIs(e.t, err, eventstore.ErrWrongExpectedRevision)
			require.Contains(e.t, err.Error(), "append to "+stream)
			if c.index >= 0 {
				var invalid *eventstore.InvalidEventError
				require.ErrorAs(e.t, err, &invalid)
				require.Equal(e.t, c.index, invalid.Index, "InvalidEventError.Index")
			}
			e.requireMissing(stream)
		})
	}
	// On an existing stream too, nothing is written.
	stream := e.stream("invalid-existing")
	e.mustAppend(stream, eventstore.NoStream(), a)
	_, err := e.s.Append(e.ctx, stream, eventstore.Exact(0), b, zero)
	require.ErrorIs(e.t, err, eventstore.ErrInvalidEvent)
	require.Equal(e.t, []uuid.UUID{a.ID}, e.streamIDs(stream))
	require.Len(e.t, e.readOwn(eventstore.Start()), 1, "nothing written anywhere")
}

// testAppendSizeLimit: an append whose type, data and metadata exceed the store's
// limit fails with *AppendTooLargeError, which matches ErrAppendTooLarge and
// ErrInvalidEvent; an append of exactly the limit succeeds.
func testAppendSizeLimit(e *env) {
	limit := e.cfg.maxAppendSize
	sized := func(typ string, data, meta int) eventstore.EventData {
		return eventstore.EventData{ID: uuid.New(), Type: typ, Data: bytes.Repeat([]byte{'d'}, data), Metadata: bytes.Repeat([]byte{'m'}, meta)}
	}
	half := (limit - 2) / 2
	cases := []struct {
		name   string
		events []eventstore.EventData
	}{
		{"Data", []eventstore.EventData{sized("T", limit, 0)}},
		{"Metadata", []eventstore.EventData{sized("T", 0, limit)}},
		{"TypeCounts", []eventstore.EventData{sized("TT", limit-1, 0)}},
		{"Sum", []eventstore.EventData{sized("T", half, 0), sized("T", 0, half), sized("T", 1, 0)}},
	}
	for _, c := range cases {
		e.run(c.name, func(e *env) {
			stream := e.stream("large-" + c.name)
			_, err := e.s.Append(e.ctx, stream, eventstore.NoStream(), c.events...)
			require.ErrorIs(e.t, err, eventstore.ErrAppendTooLarge)
			require.ErrorIs(e.t, err, eventstore.ErrInvalidEvent)
			var tooLarge *eventstore.AppendTooLargeError
			require.ErrorAs(e.t, err, &tooLarge)
			require.Equal(e.t, limit, tooLarge.Limit, "AppendTooLargeError.Limit is the store's limit")
			require.Greater(e.t, tooLarge.Size, limit)
			e.requireMissing(stream)
		})
	}
	e.run("ExactlyTheLimit", func(e *env) {
		stream := e.stream("large-ok")
		ev := sized("T", limit-1-limit/4, limit/4)
		e.mustAppend(stream, eventstore.NoStream(), ev)
		got := e.readStream(stream, 0)
		require.Len(e.t, got, 1)
		require.True(e.t, bytes.Equal(ev.Data, got[0].Data), "data round-trips")
		require.True(e.t, bytes.Equal(ev.Metadata, got[0].Metadata), "metadata round-trips")
	})
}

// testAtomicOnBadEvent: an append refused because of its fourth event writes none
// of the others (G1: appends are atomic).
func testAtomicOnBadEvent(e *env) {
	for name, spoil := range map[string]func(*eventstore.EventData){
		"ZeroID":    func(ev *eventstore.EventData) { ev.ID = uuid.Nil },
		"EmptyType": func(ev *eventstore.EventData) { ev.Type = "" },
		"Oversize":  func(ev *eventstore.EventData) { ev.Data = make([]byte, e.cfg.maxAppendSize) },
	} {
		e.run(name, func(e *env) {
			stream := e.stream("atomic-" + name)
			evs := events(5, "A")
			spoil(&evs[3])
			_, err := e.s.Append(e.ctx, stream, eventstore.Any(), evs...)
			require.ErrorIs(e.t, err, eventstore.ErrInvalidEvent)
			e.requireMissing(stream)
		})
	}
	require.Empty(e.t, e.readOwn(eventstore.Start()), "nothing written anywhere")
}
