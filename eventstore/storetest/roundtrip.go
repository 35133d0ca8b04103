package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
)

var roundTripCases = []testCase{
	{"Payloads", testPayloadRoundTrip},
	{"CallerSlicesDoNotAlias", testNoAliasing},
}

// requireSameBytes compares payloads, treating nil and empty as equal (a store need
// not tell them apart).
func requireSameBytes(e *env, want, got []byte, what string) {
	e.t.Helper()
	if len(want) == 0 {
		require.Empty(e.t, got, what)
		return
	}
	require.True(e.t, bytes.Equal(want, got), "%s differs: want %d bytes, got %d", what, len(want), len(got))
}

// testPayloadRoundTrip: id, type, data and metadata come back byte for byte from
// ReadStream, ReadAll and SubscribeAll; RecordedAt is set.
func testPayloadRoundTrip(e *env) {
	sent := payloads(e.cfg.maxAppendSize)
	rt := roundTrip{e: e, sent: sent, before: time.Now(), stream: e.stream("payloads")}
	sub := e.subscribe(eventstore.Start(), e.own())
	sub.caughtUp(eventstore.Start())
	for i, ev := range sent {
		expected := eventstore.Exact(uint64(i) - 1)
		if i == 0 {
			expected = eventstore.NoStream()
		}
		e.mustAppend(rt.stream, expected, ev)
	}
	rt.after = time.Now()

	rt.requireSame("ReadStream", e.readStream(rt.stream, 0))
	rt.requireSame("ReadAll", e.readOwn(eventstore.Start()))
	rt.requireSame("SubscribeAll", sub.events(len(sent)))
	backwards := e.readStream(rt.stream, eventstore.StreamEnd, eventstore.Backwards())
	slices.Reverse(backwards)
	rt.requireSame("ReadStream backwards", backwards)
}

// payloads returns events whose payloads a store could get wrong: JSON, nil and
// empty slices, every byte value, invalid UTF-8, a Unicode type name, and large
// random data (half of maxAppendSize, and an eighth as metadata).
func payloads(maxAppendSize int) []eventstore.EventData {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	cases := []eventstore.EventData{
		{Type: "Json", Data: []byte(`{"amount":100,"currency":"EUR"}`), Metadata: []byte(`{"command_id":"c-1"}`)},
		{Type: "NilMetadata", Data: []byte("data"), Metadata: nil},
		{Type: "EmptyMetadata", Data: []byte("data"), Metadata: []byte{}},
		{Type: "NilData", Data: nil, Metadata: []byte("meta")},
		{Type: "Empty", Data: []byte{}, Metadata: []byte{}},
		{Type: "Binary", Data: allBytes, Metadata: []byte{0, 0xff, 0, 0xfe, '\n', 0}},
		{Type: "InvalidUTF8", Data: []byte("\xff\xfe\xc3("), Metadata: []byte("\xed\xa0\x80")},
		{Type: "Ünïcödé.Type/v2 with spaces", Data: []byte("héllo, 世界"), Metadata: nil},
		{Type: "Large", Data: random(maxAppendSize / 2), Metadata: random(maxAppendSize / 8)},
	}
	for i := range cases {
		cases[i].ID = uuid.New()
	}
	return cases
}

// roundTrip is what was sent to stream, one event per append, between before and
// after.
type roundTrip struct {
	e             *env
	stream        string
	sent          []eventstore.EventData
	before, after time.Time
}

// requireSame checks that got, read by from, holds the events sent, in order, byte
// for byte, each recorded within the clock tolerance of the appends.
func (rt roundTrip) requireSame(from string, got []eventstore.RecordedEvent) {
	e := rt.e
	e.t.Helper()
	require.Len(e.t, got, len(rt.sent), from)
	tol := e.cfg.clockTolerance
	for i, want := range rt.sent {
		g := got[i]
		what := fmt.Sprintf("%s: event %d (%s)", from, i, want.Type)
		require.Equal(e.t, want.ID, g.ID, what)
		require.Equal(e.t, want.Type, g.Type, what)
		require.Equal(e.t, rt.stream, g.Stream, what)
		require.Equal(e.t, uint64(i), g.Revision, what)
		requireSameBytes(e, want.Data, g.Data, what+" data")
		requireSameBytes(e, want.Metadata, g.Metadata, what+" metadata")
		require.False(e.t, g.RecordedAt.IsZero(), what+": RecordedAt is set")
		require.True(e.t, !g.RecordedAt.Before(rt.before.Add(-tol)) && !g.RecordedAt.After(rt.after.Add(tol)),
			"%s: RecordedAt %s is not within %s of the append (%s .. %s)", what, g.RecordedAt, tol, rt.before, rt.after)
	}
}

// testNoAliasing: changing the slices given to Append, or those a read returned,
// does not change the stored events.
func testNoAliasing(e *env) {
	stream := e.stream("alias")
	ev := eventstore.EventData{ID: uuid.New(), Type: "A", Data: []byte("original data"), Metadata: []byte("original meta")}
	sent := ev
	sent.Data = bytes.Clone(ev.Data)
	sent.Metadata = bytes.Clone(ev.Metadata)
	e.mustAppend(stream, eventstore.NoStream(), sent)
	copy(sent.Data, "XXXXXXXX")
	copy(sent.Metadata, "XXXXXXXX")

	got := e.readStream(stream, 0)
	requireSameBytes(e, ev.Data, got[0].Data, "data after the caller changed its slice")
	requireSameBytes(e, ev.Metadata, got[0].Metadata, "metadata after the caller changed its slice")

	copy(got[0].Data, "YYYYYYYY")
	copy(got[0].Metadata, "YYYYYYYY")
	all := e.readOwn(eventstore.Start())
	copy(all[0].Data, "ZZZZZZZZ")
	copy(all[0].Metadata, "ZZZZZZZZ")
	again := e.readStream(stream, 0)
	requireSameBytes(e, ev.Data, again[0].Data, "data after a reader changed the slice it got")
	requireSameBytes(e, ev.Metadata, again[0].Metadata, "metadata after a reader changed the slice it got")
}
