package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// damage is one column of a row of the events table holding one value; the rest
// of the row is the event at revision 2 of stream "victim", whose revisions 0 and
// 1 are sound.
type damage struct {
	column string
	value  any
	// accept, for a value the rule in rows.go accepts, checks the event read back;
	// nil when the row is corrupt.
	accept func(e eventstore.RecordedEvent) error
	// headRead: the row is one of those an append to victim reads (its last row,
	// by revision, with its position and id), so the append reports it.
	headRead bool
	// beforeStart: the row's position is not positive, before the log's start: a
	// live subscription, which is past it, does not meet it.
	beforeStart bool
}

// damages are the values of the corruption matrix: every column holding every
// storage class it should not, and the edge values of its own class.
var damages = func() []damage {
	var ds []damage
	add := func(column string, headRead bool, values ...any) {
		for _, v := range values {
			ds = append(ds, damage{column: column, value: v, headRead: headRead})
		}
	}
	accept := func(column string, v any, check func(e eventstore.RecordedEvent) error) {
		ds = append(ds, damage{column: column, value: v, accept: check})
	}
	bytesAre := func(field string, get func(eventstore.RecordedEvent) []byte, want []byte) func(eventstore.RecordedEvent) error {
		return func(e eventstore.RecordedEvent) error {
			if got := get(e); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				return fmt.Errorf("%s is %q (nil %v), want %q (nil %v)", field, got, got == nil, want, want == nil)
			}
			return nil
		}
	}
	for _, d := range []any{int64(0), int64(-5), int64(math.MinInt64)} {
		ds = append(ds, damage{column: "position", value: d, headRead: true, beforeStart: true})
	}
	add("stream", false, nil, int64(5), 1.5, []byte("victim"), "", "\xffvictim")
	// Names Append would refuse today are names still: the row is an event of
	// another stream.
	for _, name := range []string{"vic tim", "$victim", strings.Repeat("v", 600)} {
		accept("stream", name, func(e eventstore.RecordedEvent) error {
			if e.Stream != name {
				return fmt.Errorf("stream %q, want %q", e.Stream, name)
			}
			return nil
		})
	}
	// A revision sorted after revision 1 is the stream's last row; one sorted
	// before revision 0 is not.
	add("revision", true, 2.5, "two", "", []byte{2})
	add("revision", false, nil, int64(-1), int64(math.MinInt64))
	add("id", true, nil, int64(7), 1.5, "0195f3a4-7b1c-7d2e-9f00-5a6b7c8d9e0f", "", []byte{}, make([]byte, 15), make([]byte, 17))
	add("type", false, nil, int64(7), 1.5, []byte("Written"), "", "\xffWritten")
	for _, col := range []string{"data", "metadata"} {
		get := func(e eventstore.RecordedEvent) []byte { return e.Data }
		if col == "metadata" {
			get = func(e eventstore.RecordedEvent) []byte { return e.Metadata }
		}
		add(col, false, int64(7), 1.5)
		accept(col, nil, bytesAre(col, get, nil))
		accept(col, []byte{}, bytesAre(col, get, []byte{}))
		accept(col, "", bytesAre(col, get, []byte{}))
		accept(col, `{"as":"text"}`, bytesAre(col, get, []byte(`{"as":"text"}`)))
		accept(col, "\x00\xff", bytesAre(col, get, []byte("\x00\xff")))
	}
	add("recorded_at", false, nil, 1.5, "2025-01-01", "", []byte{1})
	for _, ns := range []int64{-5, math.MinInt64, math.MaxInt64} {
		accept("recorded_at", ns, func(e eventstore.RecordedEvent) error {
			if want := time.Unix(0, ns).UTC(); !e.RecordedAt.Equal(want) || e.RecordedAt.Location() != time.UTC {
				return fmt.Errorf("RecordedAt %v, want %v", e.RecordedAt, want)
			}
			return nil
		})
	}
	return ds
}()

// TestCorruptionMatrix writes each damaged row with raw SQL and reads it through
// every path: ReadStream forwards and backwards, ReadAll, SubscribeAll while
// catching up and live (the row written once the subscription is live), Head, and
// Append to its stream. A path that reads the damaged value fails, within the
// call, with an error matching eventstore.ErrCorrupt that names the row's
// position, its stream and revision as far as the row holds them, and the column
// at fault; a value the rule accepts is read back as that rule says; no path
// hangs or panics; other streams and the rest of the log stay readable; Close
// returns.
func TestCorruptionMatrix(t *testing.T) {
	for _, d := range damages {
		t.Run(fmt.Sprintf("%s=%s", d.column, describeValue(d.value)), func(t *testing.T) {
			t.Parallel()
			checkDamage(t, d)
		})
	}
}

// checkDamage runs one case of the corruption matrix.
func checkDamage(t *testing.T, d damage) {
	ctx := t.Context()
	s := openBounded(t, sqlite.WithPollInterval(5*time.Millisecond), sqlite.WithSynchronous(sqlite.Normal))
	sound := []eventstore.EventData{newEvent("Sound"), newEvent("Sound")}
	if _, err := s.Append(ctx, "victim", eventstore.NoStream(), sound...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "bystander", eventstore.NoStream(), newEvent("Sound")); err != nil {
		t.Fatal(err)
	}
	damaged := validRow("victim", 2).with(d.column, d.value)

	// Live: the row is written, then a sound event appended, once the
	// subscription has caught up.
	var pos int64
	var after eventstore.AppendResult
	var head eventstore.Position
	var headErr, writeErr error
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
				if pos, writeErr = insertRawRow(s.Path(), damaged); writeErr != nil {
					return writeErr
				}
				head, headErr = s.Head(ctx)
				if after, writeErr = s.Append(ctx, "bystander", eventstore.Any(), newEvent("After")); writeErr != nil {
					return writeErr
				}
			case caughtUp && m.Event.Position == after.Position:
				return nil // the subscription went past the damaged row
			case caughtUp && d.accept != nil:
				if err := d.accept(m.Event); err != nil {
					return fmt.Errorf("live: %w", err)
				}
			case caughtUp:
				return fmt.Errorf("live: got %+v, want an error", m.Event)
			}
		}
		return errors.New("the subscription ended")
	})
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	mentions := d.mentions(pos)
	switch {
	case d.accept != nil || d.beforeStart:
		if live != nil {
			t.Fatalf("SubscribeAll live: %v, want the events after the row", live)
		}
	default:
		wantCorrupt(t, "SubscribeAll live", live, mentions...)
	}

	// Head reads only the position of the log's last row.
	wantHead := max(pos, 1)
	if d.beforeStart {
		wantHead = 3 // bystander's first event
	}
	if headErr != nil || head.Commit != uint64(wantHead) {
		t.Fatalf("Head: %v, %v; want position %d", head, headErr, wantHead)
	}

	// Stream reads: the row is victim's unless its stream column is damaged.
	inStream := d.column != "stream"
	for _, c := range []struct {
		name string
		from uint64
		opts []eventstore.ReadOption
	}{
		{"ReadStream forwards", 0, nil},
		{"ReadStream backwards", eventstore.StreamEnd, []eventstore.ReadOption{eventstore.Backwards()}},
	} {
		evs, err := within(t, 5*time.Second, c.name, func() readResult {
			return readAll(s.ReadStream(ctx, "victim", c.from, c.opts...))
		}).get()
		switch {
		case !inStream:
			if err != nil || len(evs) != 2 {
				t.Fatalf("%s: %d events, %v; want victim's 2 sound events", c.name, len(evs), err)
			}
		case d.accept != nil:
			if err != nil || len(evs) != 3 {
				t.Fatalf("%s: %d events, %v; want 3", c.name, len(evs), err)
			}
			for _, e := range evs {
				if e.Revision == 2 {
					if err := d.accept(e); err != nil {
						t.Fatalf("%s: %v", c.name, err)
					}
				}
			}
		default:
			wantCorrupt(t, c.name, err, mentions...)
		}
	}

	// Reads of the log from the start meet the row.
	evs, err := within(t, 5*time.Second, "ReadAll", func() readResult {
		return readAll(s.ReadAll(ctx, eventstore.Start()))
	}).get()
	if d.accept != nil {
		if err != nil || len(evs) != 5 {
			t.Fatalf("ReadAll: %d events, %v; want 5", len(evs), err)
		}
	} else {
		wantCorrupt(t, "ReadAll", err, mentions...)
	}
	checkFindEvent(t, s, d, validRow("victim", 2), damaged, mentions)
	caughtUp := within(t, 5*time.Second, "SubscribeAll catching up", func() error { return subscribeError(ctx, s, nil) })
	if d.accept != nil {
		if !errors.Is(caughtUp, errCaughtUp) {
			t.Fatalf("SubscribeAll catching up: %v", caughtUp)
		}
	} else {
		wantCorrupt(t, "SubscribeAll catching up", caughtUp, mentions...)
	}

	// The rest stays readable: another stream, and the log after the row.
	if evs := readStream(t, s, "bystander"); len(evs) != 2 {
		t.Fatalf("bystander: %d events, want 2", len(evs))
	}
	from := eventstore.Position{Commit: uint64(max(pos, 0)), Prepare: uint64(max(pos, 0))}
	if d.beforeStart {
		from = head
	}
	evs, err = within(t, 5*time.Second, "ReadAll after the row", func() readResult {
		return readAll(s.ReadAll(ctx, from))
	}).get()
	if err != nil || len(evs) != 1 || evs[0].Position != after.Position {
		t.Fatalf("ReadAll after the row: %v, %v; want the event appended after it", evs, err)
	}

	// Append reads the stream's last row and the ids of its last events.
	_, err = within(t, 5*time.Second, "Append", func() appendResult {
		res, err := s.Append(ctx, "victim", eventstore.Any(), newEvent("Next"))
		return appendResult{res, err}
	}).get()
	if d.headRead {
		wantCorrupt(t, "Append", err, mentions...)
	} else if err != nil {
		t.Fatalf("Append: %v", err)
	}
}

// mentions are what a corrupt error about the damaged row at pos must say.
func (d damage) mentions(pos int64) []string {
	m := []string{fmt.Sprintf("position %d", pos), d.column + " is"}
	if d.column != "stream" {
		m = append(m, `"victim"`)
	}
	if d.column == "revision" {
		if n, ok := d.value.(int64); ok {
			m = append(m, fmt.Sprintf("revision %d", n))
		} else {
			m = append(m, "revision "+describeValue(d.value))
		}
	} else {
		m = append(m, "revision 2")
	}
	return m
}

// describeValue is how errors describe a stored value.
func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("real %g", v)
	case string:
		if v == "" {
			return "empty text"
		}
		if len(v) > 40 {
			return "text " + fmt.Sprintf("%q", v[:10])[:11]
		}
		return fmt.Sprintf("text %q", v)
	case []byte:
		return fmt.Sprintf("blob of %d bytes", len(v))
	}
	return fmt.Sprintf("%T", v)
}

// readResult is the outcome of a read: the events before its first error.
type readResult struct {
	evs []eventstore.RecordedEvent
	err error
}

func (r readResult) get() ([]eventstore.RecordedEvent, error) { return r.evs, r.err }

func readAll(seq func(func(eventstore.RecordedEvent, error) bool)) readResult {
	evs, err := firstError(seq)
	return readResult{evs, err}
}

// appendResult is the outcome of an append.
type appendResult struct {
	res eventstore.AppendResult
	err error
}

func (r appendResult) get() (eventstore.AppendResult, error) { return r.res, r.err }

// checkFindEvent looks the damaged row up by the id a sound row would carry (the
// command handler's lookup of a processed command): a row still in victim with that
// id is reported as corrupt, or read back as the rule accepts it; a row whose
// stream or id is the damage is not found.
func checkFindEvent(t *testing.T, s *sqlite.Store, d damage, sound, damaged row, mentions []string) {
	t.Helper()
	id, ok := damaged["id"].([]byte)
	if !ok || len(id) != 16 {
		id = sound["id"].([]byte) // the id column is the damage: look for what it should hold
	}
	var want uuid.UUID
	copy(want[:], id)
	e, err := within(t, 5*time.Second, "FindEvent", func() findResult {
		e, err := s.FindEvent(t.Context(), "victim", want)
		return findResult{e, err}
	}).get()
	switch {
	case d.column == "stream" || d.column == "id":
		if !errors.Is(err, eventstore.ErrEventNotFound) && !errors.Is(err, eventstore.ErrCorrupt) {
			t.Fatalf("FindEvent: %+v, %v; want not found, or corrupt", e, err)
		}
		if errors.Is(err, eventstore.ErrCorrupt) {
			wantCorrupt(t, "FindEvent", err, mentions...)
		}
	case d.accept != nil:
		if err != nil {
			t.Fatalf("FindEvent: %v", err)
		}
		if err := d.accept(e); err != nil {
			t.Fatalf("FindEvent: %v", err)
		}
	default:
		wantCorrupt(t, "FindEvent", err, mentions...)
	}
}

// findResult is FindEvent's answer, for within.
type findResult struct {
	e   eventstore.RecordedEvent
	err error
}

func (r findResult) get() (eventstore.RecordedEvent, error) { return r.e, r.err }
