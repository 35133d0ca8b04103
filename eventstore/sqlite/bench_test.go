package sqlite_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// syncModes runs a benchmark under synchronous FULL and NORMAL.
func syncModes(b *testing.B, run func(b *testing.B, s *sqlite.Store)) {
	for _, m := range []sqlite.SyncMode{sqlite.Full, sqlite.Normal} {
		b.Run(m.String(), func(b *testing.B) {
			run(b, openTemp(b, sqlite.Synchronous(m)))
		})
	}
}

func benchEvent() eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     "Benchmarked",
		Data:     []byte(`{"amount":100,"currency":"EUR","reference":"bench"}`),
		Metadata: []byte(`{"command":"c-1"}`),
	}
}

func reportEventsPerSec(b *testing.B, events int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(events)/s, "events/s")
	}
}

// BenchmarkAppendNewStream appends one event to a new stream (NoStream) per op.
func BenchmarkAppendNewStream(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		i := 0
		for b.Loop() {
			if _, err := s.Append(ctx, "new-"+strconv.Itoa(i), eventstore.NoStream, benchEvent()); err != nil {
				b.Fatal(err)
			}
			i++
		}
		reportEventsPerSec(b, b.N)
	})
}

// BenchmarkAppendExisting appends one event with Exact(n) to an existing stream.
func BenchmarkAppendExisting(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		res, err := s.Append(ctx, "existing", eventstore.NoStream, benchEvent())
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if res, err = s.Append(ctx, "existing", eventstore.Exact(res.Revision), benchEvent()); err != nil {
				b.Fatal(err)
			}
		}
		reportEventsPerSec(b, b.N)
	})
}

// BenchmarkAppend100 appends 100 events in one append per op.
func BenchmarkAppend100(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		evs := make([]eventstore.EventData, 100)
		i := 0
		for b.Loop() {
			for k := range evs {
				evs[k] = benchEvent()
			}
			if _, err := s.Append(ctx, "batch-"+strconv.Itoa(i), eventstore.NoStream, evs...); err != nil {
				b.Fatal(err)
			}
			i++
		}
		reportEventsPerSec(b, b.N*len(evs))
	})
}

// BenchmarkReadStream1000 reads a 1000-event stream per op.
func BenchmarkReadStream1000(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		fill(b, s, "long", 1000)
		for b.Loop() {
			n := 0
			for _, err := range s.ReadStream(ctx, "long", 0) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 1000 {
				b.Fatalf("read %d events", n)
			}
		}
		reportEventsPerSec(b, b.N*1000)
	})
}

// BenchmarkReadStream10 reads a 10-event stream per op: the read a command
// handler without a cache makes for a short aggregate, dominated by the cost of a
// query rather than of its rows.
func BenchmarkReadStream10(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	fill(b, s, "short", 10)
	for b.Loop() {
		n := 0
		for _, err := range s.ReadStream(ctx, "short", 0) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 10 {
			b.Fatalf("read %d events", n)
		}
	}
}

// BenchmarkReadAll scans a log of 5000 events in 50 streams per op.
func BenchmarkReadAll(b *testing.B) {
	syncModes(b, func(b *testing.B, s *sqlite.Store) {
		ctx := context.Background()
		for i := range 50 {
			fill(b, s, "scan-"+strconv.Itoa(i), 100)
		}
		for b.Loop() {
			n := 0
			for _, err := range s.ReadAll(ctx, eventstore.Start) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 5000 {
				b.Fatalf("read %d events", n)
			}
		}
		reportEventsPerSec(b, b.N*5000)
	})
}

// BenchmarkConcurrentAppend runs 1, 8 and 64 writers, each appending one event per
// append with Exact(n) to its own stream: group commit should make events/s rise
// with the number of writers.
func BenchmarkConcurrentAppend(b *testing.B) {
	for _, m := range []sqlite.SyncMode{sqlite.Full, sqlite.Normal} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", m, writers), func(b *testing.B) {
				s := openTemp(b, sqlite.Synchronous(m))
				ctx := context.Background()
				var next atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for w := range writers {
					wg.Go(func() {
						stream := "writer-" + strconv.Itoa(w)
						expected := eventstore.NoStream
						for next.Add(1) <= int64(b.N) {
							res, err := s.Append(ctx, stream, expected, benchEvent())
							if err != nil {
								b.Error(err)
								return
							}
							expected = eventstore.Exact(res.Revision)
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				reportEventsPerSec(b, b.N)
				batches, appends, _ := sqlite.BatchStats(s)
				if batches > 0 {
					b.ReportMetric(float64(appends)/float64(batches), "appends/batch")
				}
			})
		}
	}
}

// fill appends n events to stream, 100 per append.
func fill(b *testing.B, s *sqlite.Store, stream string, n int) {
	b.Helper()
	ctx := context.Background()
	expected := eventstore.NoStream
	for n > 0 {
		k := min(n, 100)
		evs := make([]eventstore.EventData, k)
		for i := range evs {
			evs[i] = benchEvent()
		}
		res, err := s.Append(ctx, stream, expected, evs...)
		if err != nil {
			b.Fatal(err)
		}
		expected = eventstore.Exact(res.Revision)
		n -= k
	}
}
