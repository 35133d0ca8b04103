package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// TestDamagedSnapshotRowsAreCorrupt: a row of idem_snapshots whose column holds a
// value of the wrong storage class, or a negative revision, fails LoadSnapshot
// with an error matching eventstore.ErrCorrupt that names the stream, within the
// call; another stream's snapshot still loads, and a save replaces the damaged row
// (the handler then takes a new snapshot over it).
func TestDamagedSnapshotRowsAreCorrupt(t *testing.T) {
	cases := []struct {
		column string
		value  any
	}{
		{"revision", "two"}, {"revision", 1.5}, {"revision", int64(-1)}, {"revision", []byte{2}},
		{"data", int64(7)}, {"data", 1.5}, {"data", "text"},
		{"taken_at", "yesterday"}, {"taken_at", 1.5}, {"taken_at", []byte{1}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s=%s", c.column, describeValue(c.value)), func(t *testing.T) {
			ctx := t.Context()
			s := openBounded(t)
			at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			for _, stream := range []string{"victim", "bystander"} {
				snap := eventstore.Snapshot{Stream: stream, Revision: 9, Data: []byte(`{"state":1}`), TakenAt: at}
				if err := s.SaveSnapshot(ctx, snap); err != nil {
					t.Fatal(err)
				}
			}
			err := withRawConn(s.Path(), func(conn *sql.Conn) error {
				_, err := conn.ExecContext(context.Background(),
					"UPDATE idem_snapshots SET "+c.column+" = ? WHERE stream = 'victim'", c.value)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = within(t, 5*time.Second, "LoadSnapshot", func() findSnapshot {
				snap, err := s.LoadSnapshot(ctx, "victim")
				return findSnapshot{snap, err}
			}).get()
			if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "victim") {
				t.Fatalf("LoadSnapshot of the damaged row: %v; want ErrCorrupt naming the stream", err)
			}
			if got, err := s.LoadSnapshot(ctx, "bystander"); err != nil || got.Revision != 9 || !got.TakenAt.Equal(at) {
				t.Fatalf("LoadSnapshot of another stream: %+v, %v", got, err)
			}
			fresh := eventstore.Snapshot{Stream: "victim", Revision: 12, Data: []byte(`{"state":2}`), TakenAt: at}
			if err := s.SaveSnapshot(ctx, fresh); err != nil {
				t.Fatalf("SaveSnapshot over the damaged row: %v", err)
			}
			if got, err := s.LoadSnapshot(ctx, "victim"); err != nil || got.Revision != 12 {
				t.Fatalf("LoadSnapshot after a save over the damaged row: %+v, %v; want revision 12", got, err)
			}
		})
	}
}

// findSnapshot is LoadSnapshot's answer, for within.
type findSnapshot struct {
	snap eventstore.Snapshot
	err  error
}

func (r findSnapshot) get() (eventstore.Snapshot, error) { return r.snap, r.err }
