package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// FuzzStoredRow writes a row of random values, of random storage classes, into
// the events table behind the store's back and reads it through every path:
// ReadAll, SubscribeAll catching up and live, ReadStream both ways, Head and
// Append. No path may panic or hang (each call has a timeout), and each either
// reads the events the rule in rows.go makes of the file, checked against an
// oracle written from that rule, or fails with an error matching
// eventstore.ErrCorrupt, only where the rule says the file is damaged.
//
// In CI, for a bounded time:
//
//	go test -run XXX -fuzz FuzzStoredRow -fuzztime 20s ./eventstore/sqlite/
//
// The seed corpus below and testdata/fuzz/FuzzStoredRow run with every go test.
func FuzzStoredRow(f *testing.F) {
	for _, seed := range [][]byte{
		fuzzSpec(), // every column sound: an event
		fuzzSpec(fuzzCol{3, "id", text("0195f3a4-7b1c-7d2e-9f00-5a6b7c8d9e0f")}), // the TEXT id that hung the store
		fuzzSpec(fuzzCol{2, "revision", integer(-1)}),
		fuzzSpec(fuzzCol{2, "revision", real(2.5)}),
		fuzzSpec(fuzzCol{2, "revision", integer(7)}), // a gap
		fuzzSpec(fuzzCol{0, "position", integer(0)}),
		fuzzSpec(fuzzCol{0, "position", integer(math.MinInt64)}),
		fuzzSpec(fuzzCol{1, "stream", blob("victim")}),
		fuzzSpec(fuzzCol{1, "stream", text("new-stream")}, fuzzCol{2, "revision", integer(0)}),
		fuzzSpec(fuzzCol{4, "type", text("")}),
		fuzzSpec(fuzzCol{5, "data", text(`{"as":"text"}`)}, fuzzCol{6, "metadata", null()}),
		fuzzSpec(fuzzCol{5, "data", real(math.NaN())}),
		fuzzSpec(fuzzCol{7, "recorded_at", integer(math.MinInt64)}),
		fuzzSpec(fuzzCol{7, "recorded_at", text("2025-01-01T00:00:00Z")}),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec []byte) {
		checkStoredRow(t, decodeFuzzRow(spec))
	})
}

// Storage classes of a fuzzed column: the first byte of its spec, modulo
// fuzzClasses.
const (
	fuzzNull = iota
	fuzzInteger
	fuzzReal
	fuzzText
	fuzzBlob
	fuzzSound // the value the store would have written
	fuzzClasses
)

// decodeFuzzRow makes a row of the events table from spec: for each column in
// order a class byte, then for INTEGER and REAL 8 bytes (little-endian), for
// TEXT and BLOB a length byte and as many bytes; missing bytes are zeros. The
// sound row is revision 2 of stream "victim". An explicit position is kept small
// enough that the log can grow after it.
func decodeFuzzRow(spec []byte) row {
	next := func(n int) []byte {
		b := make([]byte, n)
		spec = spec[copy(b, spec):]
		return b
	}
	r := validRow("victim", 2)
	for _, col := range eventColumns {
		var v any
		switch next(1)[0] % fuzzClasses {
		case fuzzNull:
			v = nil
		case fuzzInteger:
			v = int64(binary.LittleEndian.Uint64(next(8)))
		case fuzzReal:
			v = math.Float64frombits(binary.LittleEndian.Uint64(next(8)))
		case fuzzText:
			v = string(next(int(next(1)[0])))
		case fuzzBlob:
			v = next(int(next(1)[0]))
		case fuzzSound:
			continue
		}
		if col == "position" {
			n, ok := v.(int64)
			if !ok {
				continue // not INTEGER: SQLite refuses it; AUTOINCREMENT picks one
			}
			v = n % (1 << 40)
		}
		r[col] = v
	}
	return r
}

// fuzzCol is a column value of a seed: its index in eventColumns, its name (for
// the reader) and its encoding.
type fuzzCol struct {
	index int
	name  string
	enc   []byte
}

// fuzzSpec encodes a seed: the sound row with cols replaced.
func fuzzSpec(cols ...fuzzCol) []byte {
	var spec []byte
	for i := range eventColumns {
		enc := []byte{fuzzSound}
		for _, c := range cols {
			if c.index == i {
				enc = c.enc
			}
		}
		spec = append(spec, enc...)
	}
	return spec
}

func null() []byte { return []byte{fuzzNull} }
func integer(n int64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{fuzzInteger}, uint64(n))
}
func real(x float64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{fuzzReal}, math.Float64bits(x))
}
func text(s string) []byte { return append([]byte{fuzzText, byte(len(s))}, s...) }
func blob(s string) []byte { return append([]byte{fuzzBlob, byte(len(s))}, s...) }

// checkStoredRow runs one fuzzed row through every read path.
func checkStoredRow(t *testing.T, r row) {
	ctx := t.Context()
	s := openBounded(t, sqlite.WithPollInterval(5*time.Millisecond), sqlite.WithSynchronous(sqlite.Normal))
	if _, err := s.Append(ctx, "victim", eventstore.NoStream(), newEvent("Sound"), newEvent("Sound")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "bystander", eventstore.NoStream(), newEvent("Sound")); err != nil {
		t.Fatal(err)
	}
	sound, err := firstError(s.ReadAll(ctx, eventstore.Start()))
	if err != nil {
		t.Fatal(err)
	}

	// The row is written once a subscription is live; an event follows it.
	var pos int64
	var raw [8]any
	var after eventstore.AppendResult
	var setupErr error
	var liveEvents []eventstore.RecordedEvent
	live := within(t, 10*time.Second, "SubscribeAll live", func() error {
		subCtx, stop := context.WithCancel(ctx)
		defer stop()
		caughtUp := false
		for m, err := range s.SubscribeAll(subCtx, eventstore.Start()) {
			switch {
			case err != nil:
				return err
			case m.CaughtUp:
				caughtUp = true
				if pos, setupErr = insertRawRow(s.Path(), r); setupErr != nil {
					return nil
				}
				if raw, setupErr = storedRow(s.Path(), pos); setupErr != nil {
					return nil
				}
				if after, setupErr = s.Append(ctx, "bystander", eventstore.Any(), newEvent("After")); setupErr != nil {
					return nil
				}
			case caughtUp && m.Event.Position == after.Position:
				return nil
			case caughtUp:
				liveEvents = append(liveEvents, m.Event)
			}
		}
		return errors.New("the subscription ended")
	})
	if setupErr != nil {
		// SQLite refused the row (a position or a (stream, revision) taken) or
		// the log cannot grow after it: not a row a file can hold.
		t.Skipf("row %v not stored: %v", r, setupErr)
	}
	want, rowOK := oracleEvent(raw)
	wantOutcome := func(what string, err error, events []eventstore.RecordedEvent, wantEvents []eventstore.RecordedEvent, mustFail bool) {
		t.Helper()
		switch {
		case err != nil && !errors.Is(err, eventstore.ErrCorrupt):
			t.Fatalf("%s: %v, want the events or an error matching ErrCorrupt", what, err)
		case err != nil && !mustFail:
			t.Fatalf("%s: %v on a row the rule accepts: %v", what, err, raw)
		case err == nil && mustFail:
			t.Fatalf("%s: no error on a row the rule refuses: %v", what, raw)
		case err == nil:
			if d := diffEvents(events, wantEvents); d != "" {
				t.Fatalf("%s: %s", what, d)
			}
		}
	}

	// Live: past the log's start, the row comes before the event after it.
	var wantLive []eventstore.RecordedEvent
	if rowOK && pos > 0 {
		wantLive = []eventstore.RecordedEvent{want}
	}
	wantOutcome("SubscribeAll live", live, liveEvents, wantLive, !rowOK && pos > 0)

	// The log from the start, after the row was written.
	wantLog := slices.Clone(sound)
	if rowOK {
		wantLog = append(wantLog, want)
	}
	wantLog = append(wantLog, eventAt(t, s, after.Position))
	slices.SortFunc(wantLog, func(a, b eventstore.RecordedEvent) int { return int(a.Position.Commit) - int(b.Position.Commit) })
	got := within(t, 5*time.Second, "ReadAll", func() readResult { return readAll(s.ReadAll(ctx, eventstore.Start())) })
	wantOutcome("ReadAll", got.err, got.evs, wantLog, !rowOK)
	var caught []eventstore.RecordedEvent
	caughtUp := within(t, 5*time.Second, "SubscribeAll catching up", func() error {
		for m, err := range s.SubscribeAll(ctx, eventstore.Start()) {
			if err != nil || m.CaughtUp {
				return err
			}
			caught = append(caught, m.Event)
		}
		return nil
	})
	wantOutcome("SubscribeAll catching up", caughtUp, caught, wantLog, !rowOK)

	// The stream the row names, if it names one: else victim, which it left.
	stream := "victim"
	name, inStream := raw[1].(string)
	if inStream && eventstore.ValidateStreamName(name) == nil {
		stream = name
	}
	inStream = inStream && name == stream
	var wantStream []eventstore.RecordedEvent
	for _, e := range wantLog {
		if e.Stream == stream {
			wantStream = append(wantStream, e)
		}
	}
	slices.SortFunc(wantStream, func(a, b eventstore.RecordedEvent) int { return int(a.Revision) - int(b.Revision) })
	gap := false
	for i, e := range wantStream {
		gap = gap || e.Revision != uint64(i)
	}
	mustFail := inStream && (!rowOK || gap)
	got = within(t, 5*time.Second, "ReadStream forwards", func() readResult { return readAll(s.ReadStream(ctx, stream, 0)) })
	if !mustFail && len(wantStream) == 0 {
		if !errors.Is(got.err, eventstore.ErrStreamNotFound) {
			t.Fatalf("ReadStream %s: %v, want ErrStreamNotFound", stream, got.err)
		}
	} else {
		wantOutcome("ReadStream forwards", got.err, got.evs, wantStream, mustFail)
		slices.Reverse(wantStream)
		got = within(t, 5*time.Second, "ReadStream backwards", func() readResult {
			return readAll(s.ReadStream(ctx, stream, eventstore.StreamEnd, eventstore.Backwards()))
		})
		wantOutcome("ReadStream backwards", got.err, got.evs, wantStream, mustFail)
	}

	// Head reads the last position only; Append reads a few rows of the stream.
	head, err := headWithin(t, s)
	if wantHead := max(pos, int64(after.Position.Commit)); err != nil || head.Commit != uint64(wantHead) {
		t.Fatalf("Head: %v, %v; want %d", head, err, wantHead)
	}
	res := within(t, 5*time.Second, "Append", func() appendResult {
		res, err := s.Append(ctx, stream, eventstore.Any(), newEvent("Next"))
		return appendResult{res, err}
	})
	if res.err != nil && !errors.Is(res.err, eventstore.ErrCorrupt) {
		t.Fatalf("Append: %v, want success or an error matching ErrCorrupt", res.err)
	}
	if res.err != nil && !inStream {
		t.Fatalf("Append: %v, but the row is not in %s", res.err, stream)
	}
}

// storedRow reads back the row at pos as SQLite holds it.
func storedRow(path string, pos int64) (raw [8]any, err error) {
	err = withRawConn(path, func(c *sql.Conn) error {
		dest := make([]any, len(raw))
		for i := range raw {
			dest[i] = &raw[i]
		}
		return c.QueryRowContext(context.Background(), "SELECT position, stream, revision, id, type, data, metadata, recorded_at FROM events WHERE position = ?", pos).Scan(dest...)
	})
	return raw, err
}

// oracleEvent is the rule of rows.go, written again from its statement: the
// event a stored row is, and whether it is one.
func oracleEvent(raw [8]any) (eventstore.RecordedEvent, bool) {
	var e eventstore.RecordedEvent
	pos, ok1 := raw[0].(int64)
	stream, ok2 := raw[1].(string)
	rev, ok3 := raw[2].(int64)
	id, ok4 := raw[3].([]byte)
	typ, ok5 := raw[4].(string)
	at, ok6 := raw[7].(int64)
	payload := func(v any) ([]byte, bool) {
		switch v := v.(type) {
		case nil:
			return nil, true
		case []byte:
			return v, true
		case string:
			return []byte(v), true
		}
		return nil, false
	}
	data, ok7 := payload(raw[5])
	meta, ok8 := payload(raw[6])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) || pos <= 0 || stream == "" || !utf8.ValidString(stream) ||
		rev < 0 || len(id) != 16 || typ == "" || !utf8.ValidString(typ) {
		return e, false
	}
	e = eventstore.RecordedEvent{
		Stream: stream, Revision: uint64(rev), Position: eventstore.Position{Commit: uint64(pos), Prepare: uint64(pos)},
		Type: typ, Data: data, Metadata: meta, RecordedAt: time.Unix(0, at).UTC(),
	}
	copy(e.ID[:], id)
	return e, true
}

// eventAt reads the event at position p.
func eventAt(t *testing.T, s eventstore.Store, p eventstore.Position) eventstore.RecordedEvent {
	t.Helper()
	before := eventstore.Position{Commit: p.Commit - 1, Prepare: p.Prepare - 1}
	evs, err := firstError(s.ReadAll(t.Context(), before, eventstore.Limit(1)))
	if err != nil || len(evs) != 1 {
		t.Fatalf("read the event at %v: %v, %v", p, evs, err)
	}
	return evs[0]
}

// diffEvents says how got differs from want, field by field; "" when it does not.
func diffEvents(got, want []eventstore.RecordedEvent) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Stream != w.Stream || g.Revision != w.Revision || g.Position != w.Position || g.Type != w.Type ||
			!bytes.Equal(g.Data, w.Data) || (g.Data == nil) != (w.Data == nil) ||
			!bytes.Equal(g.Metadata, w.Metadata) || (g.Metadata == nil) != (w.Metadata == nil) || !g.RecordedAt.Equal(w.RecordedAt) {
			return fmt.Sprintf("event %d is %+v, want %+v", i, g, w)
		}
	}
	return ""
}
