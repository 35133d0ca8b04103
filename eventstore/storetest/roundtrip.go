package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
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
	large := e.cfg.maxAppendSize / 2
	cases := []eventstore.EventData{
		{Type: "Json", Data: []byte(`{"amount":100,"currency":"EUR"}`), Metadata: []byte(`{"command_id":"c-1"}`)},
		{Type: "NilMetadata", Data: []byte("data"), Metadata: nil},
		{Type: "EmptyMetadata", Data: []byte("data"), Metadata: []byte{}},
		{Type: "NilData", Data: nil, Metadata: []byte("meta")},
		{Type: "Empty", Data: []byte{}, Metadata: []byte{}},
		{Type: "Binary", Data: allBytes, Metadata: []byte{0, 0xff, 0, 0xfe, '\n', 0}},
		{Type: "InvalidUTF8", Data: []byte("\xff\xfe\xc3("), Metadata: []byte("\xed\xa0\x80")},
		{Type: "Ünïcödé.Type/v2 with spaces", Data: []byte("héllo, 世界"), Metadata: nil},
		{Type: "Large", Data: random(large), Metadata: random(e.cfg.maxAppendSize / 8)},
	}
	for i := range cases {
		cases[i].ID = uuid.New()
	}
	before := time.Now()
	stream := e.stream("payloads")
	sub := e.subscribe(eventstore.Start(), e.own())
	sub.caughtUp(eventstore.Start())
	for i, ev := range cases {
		expected := eventstore.Exact(uint64(i) - 1)
		if i == 0 {
			expected = eventstore.NoStream()
		}
		e.mustAppend(stream, expected, ev)
	}
	after := time.Now()

	check := func(from string, got []eventstore.RecordedEvent) {
		e.t.Helper()
		require.Len(e.t, got, len(cases), from)
		for i, want := range cases {
			g := got[i]
			what := fmt.Sprintf("%s: event %d (%s)", from, i, want.Type)
			require.Equal(e.t, want.ID, g.ID, what)
			require.Equal(e.t, want.Type, g.Type, what)
			require.Equal(e.t, stream, g.Stream, what)
			require.Equal(e.t, uint64(i), g.Revision, what)
			requireSameBytes(e, want.Data, g.Data, what+" data")
			requireSameBytes(e, want.Metadata, g.Metadata, what+" metadata")
			require.False(e.t, g.RecordedAt.IsZero(), what+": RecordedAt is set")
			tol := e.cfg.clockTolerance
			require.True(e.t, !g.RecordedAt.Before(before.Add(-tol)) && !g.RecordedAt.After(after.Add(tol)),
				"%s: RecordedAt %s is not within %s of the append (%s .. %s)", what, g.RecordedAt, tol, before, after)
		}
	}
	check("ReadStream", e.readStream(stream, 0))
	check("ReadAll", e.readOwn(eventstore.Start()))
	check("SubscribeAll", sub.events(len(cases)))
	backwards := e.readStream(stream, eventstore.StreamEnd, eventstore.Backwards())
	for i, j := 0, len(backwards)-1; i < j; i, j = i+1, j-1 {
		backwards[i], backwards[j] = backwards[j], backwards[i]
	}
	check("ReadStream backwards", backwards)
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
