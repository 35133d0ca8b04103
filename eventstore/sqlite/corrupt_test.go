package sqlite_test

import (
	"fmt"
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

// readStream reads all of stream, failing the test on an error.
func readStream(t testing.TB, s eventstore.Store, stream string, opts ...eventstore.ReadOption) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := firstError(s.ReadStream(t.Context(), stream, 0, opts...))
	if err != nil {
		t.Errorf("read %s: %v", stream, err)
	}
	return evs
}
