package sqlite_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
)

// TestTextIDIsReportedNotHung: a row whose id is TEXT used to make the id
// column's Scanner panic, which leaves database/sql's lock on the rows held: the
// read hung, and so did every later read once the pool's connections were all
// held, and Close. Every read now reports the row as corrupt within the call,
// other streams stay readable and Close returns.
func TestTextIDIsReportedNotHung(t *testing.T) {
	s := openBounded(t)
	ctx := t.Context()
	if _, err := s.Append(ctx, "victim", eventstore.NoStream(), newEvent("Fine")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "bystander", eventstore.NoStream(), newEvent("Fine")); err != nil {
		t.Fatal(err)
	}
	pos := writeRawRow(t, s.Path(), validRow("victim", 1).with("id", uuid.NewString()))
	mentions := []string{`"victim"`, "revision 1", fmt.Sprintf("position %d", pos)}

	// More reads than the read pool has connections.
	for i := range 12 {
		err := within(t, 5*time.Second, "ReadStream", func() error {
			_, err := firstError(s.ReadStream(ctx, "victim", 0))
			return err
		})
		wantCorrupt(t, fmt.Sprintf("ReadStream #%d", i), err, mentions...)
	}
	err := within(t, 5*time.Second, "ReadAll", func() error {
		_, err := firstError(s.ReadAll(ctx, eventstore.Start()))
		return err
	})
	wantCorrupt(t, "ReadAll", err, mentions...)
	err = within(t, 5*time.Second, "SubscribeAll", func() error { return subscribeError(ctx, s, nil) })
	wantCorrupt(t, "SubscribeAll", err, mentions...)
	evs := within(t, 5*time.Second, "ReadStream of another stream", func() []eventstore.RecordedEvent {
		return readStream(t, s, "bystander")
	})
	if len(evs) != 1 {
		t.Fatalf("bystander: %d events, want 1", len(evs))
	}
}

// TestNegativeRevisionIsReportedByStreamReads: a row with a negative revision
// was reported by ReadAll but skipped by ReadStream, whose range started at
// revision 0. Reads of the stream that reach its start report it now.
func TestNegativeRevisionIsReportedByStreamReads(t *testing.T) {
	s := openBounded(t)
	ctx := t.Context()
	if _, err := s.Append(ctx, "victim", eventstore.NoStream(), newEvent("Fine"), newEvent("Fine")); err != nil {
		t.Fatal(err)
	}
	pos := writeRawRow(t, s.Path(), validRow("victim", -1))
	mentions := []string{`"victim"`, "revision -1", fmt.Sprintf("position %d", pos)}
	for _, c := range []struct {
		name string
		from uint64
		opts []eventstore.ReadOption
	}{
		{"forwards", 0, nil},
		{"backwards", eventstore.StreamEnd, []eventstore.ReadOption{eventstore.Backwards()}},
	} {
		err := within(t, 5*time.Second, "ReadStream "+c.name, func() error {
			_, err := firstError(s.ReadStream(ctx, "victim", c.from, c.opts...))
			return err
		})
		wantCorrupt(t, "ReadStream "+c.name, err, mentions...)
	}
	err := within(t, 5*time.Second, "ReadAll", func() error {
		_, err := firstError(s.ReadAll(ctx, eventstore.Start()))
		return err
	})
	wantCorrupt(t, "ReadAll", err, mentions...)
}

// TestMissingRevisionIsReported: a stream whose revision 1 was deleted behind the
// store's back used to be read as 0, 2 without a word. Reads that cross the gap,
// and an append whose retry check covers it, report it now, naming the row next
// to it and the missing revision.
func TestMissingRevisionIsReported(t *testing.T) {
	s := openBounded(t)
	ctx := t.Context()
	evs := []eventstore.EventData{newEvent("Fine"), newEvent("Fine"), newEvent("Fine")}
	res, err := s.Append(ctx, "victim", eventstore.NoStream(), evs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rawDB(t, s.Path()).Exec("DELETE FROM events WHERE stream = 'victim' AND revision = 1"); err != nil {
		t.Fatal(err)
	}
	last := fmt.Sprintf("position %d", res.Position.Commit)
	for _, c := range []struct {
		name     string
		from     uint64
		opts     []eventstore.ReadOption
		mentions []string
	}{
		{"forwards", 0, nil, []string{last, "revision 2", "revision 1 is missing"}},
		{"backwards", eventstore.StreamEnd, []eventstore.ReadOption{eventstore.Backwards()}, []string{"revision 0", "revision 1 is missing"}},
	} {
		err := within(t, 5*time.Second, "ReadStream "+c.name, func() error {
			_, err := firstError(s.ReadStream(ctx, "victim", c.from, c.opts...))
			return err
		})
		wantCorrupt(t, "ReadStream "+c.name, err, append(c.mentions, `"victim"`)...)
	}
	_, err = s.Append(ctx, "victim", eventstore.NoStream(), evs...) // a retry: compares the ids of 0..2
	wantCorrupt(t, "Append retry", err, `"victim"`, "revision 1")
}

// TestNonPositivePositionIsReported: positions start at 1, so reads of the log
// from the start, whose range began after position 0, skipped a row at position 0
// or below. They report it now, and so does Head when it is the log's last row.
func TestNonPositivePositionIsReported(t *testing.T) {
	ctx := t.Context()
	s := openBounded(t)
	if _, err := s.Append(ctx, "bystander", eventstore.NoStream(), newEvent("Fine")); err != nil {
		t.Fatal(err)
	}
	writeRawRow(t, s.Path(), validRow("victim", 0).with("position", int64(-5)))
	mentions := []string{"position -5", `"victim"`, "revision 0"}
	err := within(t, 5*time.Second, "ReadAll", func() error {
		_, err := firstError(s.ReadAll(ctx, eventstore.Start()))
		return err
	})
	wantCorrupt(t, "ReadAll", err, mentions...)
	err = within(t, 5*time.Second, "SubscribeAll", func() error { return subscribeError(ctx, s, nil) })
	wantCorrupt(t, "SubscribeAll", err, mentions...)

	alone := openBounded(t)
	writeRawRow(t, alone.Path(), validRow("victim", 0).with("position", int64(0)))
	_, err = headWithin(t, alone)
	wantCorrupt(t, "Head", err, "position 0", `"victim"`, "revision 0")
}

// headWithin calls s.Head, failing the test if it does not return in time.
func headWithin(t testing.TB, s eventstore.HeadReader) (eventstore.Position, error) {
	t.Helper()
	type result struct {
		p   eventstore.Position
		err error
	}
	r := within(t, 5*time.Second, "Head", func() result {
		p, err := s.Head(t.Context())
		return result{p, err}
	})
	return r.p, r.err
}

// TestCorruptErrorsQuoteLittle: an error about a damaged row quotes at most a
// few hundred bytes of what the row holds, however large.
func TestCorruptErrorsQuoteLittle(t *testing.T) {
	s := openBounded(t)
	huge := strings.Repeat("x", 1<<20)
	for _, r := range []row{
		validRow("victim", 0).with("id", huge),
		validRow(huge, -1),
		validRow("victim", 2).with("revision", huge),
	} {
		pos := writeRawRow(t, s.Path(), r)
		_, err := firstError(s.ReadAll(t.Context(), eventstore.Position{Commit: uint64(pos - 1), Prepare: uint64(pos - 1)}))
		wantCorrupt(t, "ReadAll", err, fmt.Sprintf("position %d", pos))
		if len(err.Error()) > 1000 {
			t.Fatalf("the message is %d bytes long: %.300s...", len(err.Error()), err)
		}
	}
}

// readStream reads all of stream, failing the test on an error.
func readStream(t testing.TB, s eventstore.Store, stream string, opts ...eventstore.ReadOption) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := firstError(s.ReadStream(t.Context(), stream, 0, opts...))
	if err != nil {
		t.Errorf("read %s: %v", stream, err)
	}
	return evs
}
