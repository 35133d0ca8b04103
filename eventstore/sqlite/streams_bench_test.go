package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// BenchmarkStreams lists every stream of a store with the SQLite StreamLister
// (one GROUP BY over the stream index) and with the fallback that reads the
// whole log (eventstore.ScanStreams), in the same run. The store is
// IDEM_BENCH_STORE (a store file, opened read-only: the demo's, say) or a
// generated one of 20,000 events over 2,000 streams.
//
//	IDEM_BENCH_STORE=/tmp/idem-demo.db go test -run XXX -bench Streams ./eventstore/sqlite/
func BenchmarkStreams(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	defer s.Close()
	var events uint64
	streams := 0
	for info, err := range s.Streams(ctx, eventstore.StreamFilter{}) {
		if err != nil {
			b.Fatal(err)
		}
		events += info.Events
		streams++
	}
	b.Logf("%d events in %d streams", events, streams)
	for _, c := range []struct {
		name string
		list func() func(func(eventstore.StreamInfo, error) bool)
	}{
		{"lister", func() func(func(eventstore.StreamInfo, error) bool) { return s.Streams(ctx, eventstore.StreamFilter{}) }},
		{"scan", func() func(func(eventstore.StreamInfo, error) bool) {
			return eventstore.ScanStreams(ctx, s, eventstore.StreamFilter{})
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				n := 0
				for _, err := range c.list() {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != streams {
					b.Fatalf("%d streams listed, want %d", n, streams)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(events)*1000, "ns/event")
		})
	}
}

func benchStore(b *testing.B) *sqlite.Store {
	ctx := context.Background()
	if path := os.Getenv("IDEM_BENCH_STORE"); path != "" {
		s, err := sqlite.OpenReadOnly(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "events.db"), sqlite.WithSynchronous(sqlite.Normal))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		evs := make([]eventstore.EventData, 10)
		for j := range evs {
			evs[j] = newEvent("E")
		}
		if _, err := s.Append(ctx, fmt.Sprintf("order-%04d", i), eventstore.NoStream(), evs...); err != nil {
			b.Fatal(err)
		}
	}
	return s
}
