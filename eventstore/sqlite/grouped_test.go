package sqlite_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// Appends grouped into one batch are inserted together: each must still get the
// revision and position of its own last event, several appends to one stream in
// one batch included.
func TestGroupedAppendsGetTheirOwnPositions(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			stream := "grouped-" + strconv.Itoa(w%8) // 4 writers per stream
			for i := range 20 {
				evs := make([]eventstore.EventData, 1+(w+i)%3)
				for k := range evs {
					evs[k] = newEvent("Grouped")
				}
				res, err := s.Append(ctx, stream, eventstore.Any(), evs...)
				if err != nil {
					t.Error(err)
					return
				}
				checkLast(t, s, stream, res, evs[len(evs)-1])
			}
		})
	}
	wg.Wait()
	if batches, appends, _ := sqlite.BatchStats(s); batches >= appends {
		t.Logf("no batch held more than one append (%d batches, %d appends)", batches, appends)
	}
}

// checkLast reads the event at res.Revision of stream and checks it is last, at
// res.Position.
func checkLast(t *testing.T, s *sqlite.Store, stream string, res eventstore.AppendResult, last eventstore.EventData) {
	t.Helper()
	for e, err := range s.ReadStream(context.Background(), stream, res.Revision, eventstore.Limit(1)) {
		if err != nil {
			t.Error(err)
			return
		}
		if e.ID != last.ID || e.Position != res.Position {
			t.Errorf("%s@%d: event %s at %v, the append said %s at %v", stream, res.Revision, e.ID, e.Position, last.ID, res.Position)
		}
	}
}
