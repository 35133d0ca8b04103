package command_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// The benchmarks run on both backends; quote the handler's numbers as ratios to
// BenchmarkRawAppendExact and BenchmarkRawRead1000 of the same backend, same run.

func benchStores() []struct {
	name string
	open func(b *testing.B) eventstore.Store
} {
	return []struct {
		name string
		open func(b *testing.B) eventstore.Store
	}{
		{"memory", func(b *testing.B) eventstore.Store { s := memory.New(); b.Cleanup(func() { _ = s.Close() }); return s }},
		{"sqlite", func(b *testing.B) eventstore.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
}

func eachBenchStore(b *testing.B, f func(b *testing.B, s eventstore.Store)) {
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) { f(b, bs.open(b)) })
	}
}

// BenchmarkRawAppendExact is the floor: one event, Exact(n), a payload and metadata
// the size the handler writes.
func BenchmarkRawAppendExact(b *testing.B) {
	eachBenchStore(b, func(b *testing.B, s eventstore.Store) {
		ctx := context.Background()
		data := []byte(`{"Amount":1,"Ref":""}`)
		meta := []byte(`{"command_id":"cmd-000000","fingerprint":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","command_type":"account.Deposit","index":0,"count":1}`)
		if _, err := s.Append(ctx, "raw-1", eventstore.NoStream(), eventstore.EventData{ID: uuid.New(), Type: "t", Data: data, Metadata: meta}); err != nil {
			b.Fatal(err)
		}
		rev := uint64(0)
		b.ResetTimer()
		for b.Loop() {
			res, err := s.Append(ctx, "raw-1", eventstore.Exact(rev), eventstore.EventData{ID: uuid.New(), Type: "t", Data: data, Metadata: meta})
			if err != nil {
				b.Fatal(err)
			}
			rev = res.Revision
		}
	})
}

// fill writes n deposits to agg through a cached handler with opts (a cache keeps
// the setup O(n)).
func fill(b *testing.B, s eventstore.Store, agg string, n int, opts ...command.Option) {
	ctx := context.Background()
	h := newHandler(b, s, append(opts, command.WithCache(4))...)
	for i := range n {
		if _, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("fill-%d", i), AggregateID: agg, Payload: Deposit{Amount: 1}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawRead1000 reads a 1000-event stream.
func BenchmarkRawRead1000(b *testing.B) {
	eachBenchStore(b, func(b *testing.B, s eventstore.Store) {
		fill(b, s, "big", 1000)
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			n := 0
			for _, err := range s.ReadStream(ctx, "account-big", 0) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 1000 {
				b.Fatal(n)
			}
		}
	})
}

func BenchmarkHandleNewCommand(b *testing.B) {
	for _, cache := range []int{0, 64} {
		b.Run(fmt.Sprintf("cache=%d", cache), func(b *testing.B) {
			eachBenchStore(b, func(b *testing.B, s eventstore.Store) {
				h := newHandler(b, s, command.WithCache(cache))
				// Short streams without a cache, so the load does not dominate.
				ctx := context.Background()
				i := 0
				b.ResetTimer()
				for b.Loop() {
					agg := "hot"
					if cache == 0 {
						agg = fmt.Sprintf("a%d", i/10)
					}
					if _, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("n-%d", i), AggregateID: agg, Payload: Deposit{Amount: 1}}); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}

func BenchmarkHandleDuplicate(b *testing.B) {
	for _, cache := range []int{0, 64} {
		b.Run(fmt.Sprintf("cache=%d", cache), func(b *testing.B) {
			eachBenchStore(b, func(b *testing.B, s eventstore.Store) {
				h := newHandler(b, s, command.WithCache(cache))
				fill(b, s, "dup", 10)
				if _, err := h.Handle(context.Background(), cmd{ID: "fill-9", AggregateID: "dup", Payload: Deposit{Amount: 1}}); err != nil {
					b.Fatal(err) // warms the cache
				}
				ctx := context.Background()
				c := cmd{ID: "fill-9", AggregateID: "dup", Payload: Deposit{Amount: 1}}
				b.ResetTimer()
				for b.Loop() {
					res, err := h.Handle(ctx, c)
					if err != nil || !res.Duplicate {
						b.Fatal(err, res.Duplicate)
					}
				}
			})
		})
	}
}

func BenchmarkLoad1000(b *testing.B) {
	for _, snap := range []bool{false, true} {
		b.Run(fmt.Sprintf("snapshot=%v", snap), func(b *testing.B) {
			eachBenchStore(b, func(b *testing.B, s eventstore.Store) {
				var opts []command.Option
				if snap {
					opts = append(opts, command.WithSnapshots(memory.New()), command.WithSnapshotEvery(100), command.WithSnapshotVersion(1))
				}
				h := newHandler(b, s, opts...)
				fill(b, s, "big", 1000, opts...)
				ctx := context.Background()
				b.ResetTimer()
				for b.Loop() {
					st, _, err := loadAcc(h, ctx, "big")
					if err != nil || st.Balance != 1000 {
						b.Fatal(err, st.Balance)
					}
				}
			})
		})
	}
}

// BenchmarkHandleHotAggregates has 64 callers send new commands to a Zipf-hot set
// of aggregates (1000, s=1.1: the hottest few get most commands) through one
// handler on SQLite (synchronous=NORMAL), with and without the cache. A command
// whose retries ran out is redelivered, as an at-least-once transport would. It
// reports commands/s and, per command, the conflicts retried, the budgets
// exhausted and the events read.
func BenchmarkHandleHotAggregates(b *testing.B) {
	const callers, aggregates = 64, 1000
	for _, cache := range []int{0, aggregates} {
		b.Run(fmt.Sprintf("cache=%d", cache), func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "hot.db"), sqlite.WithSynchronous(sqlite.Normal))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			store := &countingStore{Store: s}
			h := newHandler(b, store, command.WithCache(cache),
				command.WithLogger(slog.New(slog.DiscardHandler)))
			ctx := context.Background()
			var seq, exhausted atomic.Int64
			par := max(1, (callers+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))
			b.SetParallelism(par)
			before, read0 := h.Stats(), store.eventsRead.Load()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				z := rand.NewZipf(rand.New(rand.NewPCG(uint64(seq.Add(1)), 7)), 1.1, 1, aggregates-1)
				for pb.Next() {
					n := seq.Add(1)
					c := cmd{ID: fmt.Sprintf("hot-%d", n), AggregateID: fmt.Sprintf("z%d", z.Uint64()),
						Payload: Deposit{Amount: 1}}
					for {
						_, err := h.Handle(ctx, c)
						if err == nil {
							break
						}
						if !errors.Is(err, command.ErrRetriesExhausted) {
							b.Error(err)
							return
						}
						exhausted.Add(1)
					}
				}
			})
			b.StopTimer()
			st := h.Stats()
			n := float64(b.N)
			b.ReportMetric(n/b.Elapsed().Seconds(), "cmds/s")
			b.ReportMetric(float64(st.ConflictsRetried-before.ConflictsRetried)/n, "conflicts/cmd")
			b.ReportMetric(float64(exhausted.Load())/n, "exhausted/cmd")
			b.ReportMetric(float64(store.eventsRead.Load()-read0)/n, "events-read/cmd")
		})
	}
}
