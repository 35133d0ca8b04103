package faults_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/testkit/faults"
)

func event(i int) eventstore.EventData {
	return eventstore.EventData{
		ID:   uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "event-%d", i)),
		Type: "Happened",
		Data: fmt.Appendf(nil, `{"i":%d}`, i),
	}
}

// seed writes n events to stream on inner, without faults.
func seed(t *testing.T, inner eventstore.Store, stream string, n int) {
	t.Helper()
	for i := range n {
		_, err := inner.Append(context.Background(), stream, eventstore.Any(), event(1000*len(stream)+i))
		require.NoError(t, err)
	}
}

func count[T any](t *testing.T, seq iter.Seq2[T, error]) (n int, err error) {
	t.Helper()
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func TestSchedules(t *testing.T) {
	fired := func(s faults.Schedule, upTo int) []int {
		var out []int
		for n := 1; n <= upTo; n++ {
			if s(uint64(n)) {
				out = append(out, n)
			}
		}
		return out
	}
	tests := []struct {
		name string
		s    faults.Schedule
		want []int
	}{
		{"Always", faults.Always(), []int{1, 2, 3, 4, 5, 6, 7}},
		{"Never", faults.Never(), nil},
		{"Once", faults.Once(), []int{1}},
		{"EveryNth(3)", faults.EveryNth(3), []int{3, 6}},
		{"EveryNth(0)", faults.EveryNth(0), nil},
		{"After(5)", faults.After(5), []int{6, 7}},
		{"FirstN(2)", faults.FirstN(2), []int{1, 2}},
		{"OnCalls(2,5)", faults.OnCalls(2, 5), []int{2, 5}},
		{"Probability(0)", faults.Probability(0, 1), nil},
		{"Probability(1)", faults.Probability(1, 1), []int{1, 2, 3, 4, 5, 6, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, fired(tt.s, 7))
		})
	}
}

func TestProbabilityIsDeterministicPerSeed(t *testing.T) {
	const calls = 20000
	pick := func(seed uint64) (hits []uint64) {
		s := faults.Probability(0.1, seed)
		for n := uint64(1); n <= calls; n++ {
			if s(n) {
				hits = append(hits, n)
			}
		}
		return hits
	}
	a, b, other := pick(42), pick(42), pick(43)
	assert.Equal(t, a, b, "the same seed must fault the same calls")
	assert.NotEqual(t, a, other, "another seed should fault other calls")
	assert.InDelta(t, 0.1, float64(len(a))/calls, 0.01, "fault rate")
}

func TestLostAckWritesThenFails(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	s := faults.Wrap(inner, faults.LostAck(faults.Once()))

	_, err := s.Append(ctx, "order-1", eventstore.NoStream(), event(1), event(2))
	require.Error(t, err)
	assert.ErrorIs(t, err, faults.ErrInjected)
	assert.ErrorIs(t, err, eventstore.ErrUnavailable)
	var injected *faults.InjectedError
	require.ErrorAs(t, err, &injected)
	assert.Equal(t, faults.KindLostAck, injected.Kind)
	assert.True(t, injected.Written)
	assert.Contains(t, err.Error(), "append to order-1 expecting no stream")

	n, err := count(t, inner.ReadStream(ctx, "order-1", 0))
	require.NoError(t, err)
	assert.Equal(t, 2, n, "a lost ack must have written the append")

	// G2 through the wrapper: the retry with the same ids succeeds and writes nothing.
	res, err := s.Append(ctx, "order-1", eventstore.NoStream(), event(1), event(2))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), res.Revision)
	n, _ = count(t, inner.ReadStream(ctx, "order-1", 0))
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(1), s.Stats().LostAcks)
	assert.Equal(t, int64(2), s.Stats().Appends)
}

func TestLostAckPassesInnerErrors(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	seed(t, inner, "order-1", 1)
	s := faults.Wrap(inner, faults.LostAck(faults.Always()))
	_, err := s.Append(ctx, "order-1", eventstore.NoStream(), event(99))
	assert.ErrorIs(t, err, eventstore.ErrWrongExpectedRevision)
	assert.NotErrorIs(t, err, faults.ErrInjected, "an append that failed was not acknowledged: nothing to lose")
	assert.Zero(t, s.Stats().LostAcks)
}

func TestFailBeforeAppendWritesNothing(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	s := faults.Wrap(inner, faults.FailBeforeAppend(faults.EveryNth(2)))

	_, err := s.Append(ctx, "order-1", eventstore.NoStream(), event(1))
	require.NoError(t, err, "call 1 is not faulted")
	_, err = s.Append(ctx, "order-1", eventstore.Exact(0), event(2))
	require.ErrorIs(t, err, faults.ErrInjected)
	var injected *faults.InjectedError
	require.ErrorAs(t, err, &injected)
	assert.False(t, injected.Written)
	assert.Equal(t, uint64(2), injected.Call)

	n, err := count(t, inner.ReadStream(ctx, "order-1", 0))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a failed append must write nothing")
	assert.Equal(t, int64(1), s.Stats().FailedAppends)
}

func TestFailReadAfter(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		k        int
		events   int
		wantRead int
	}{
		{"midway", 2, 5, 2},
		{"before the first event", 0, 5, 0},
		{"at the end of a shorter read", 10, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := memory.New()
			seed(t, inner, "order-1", tt.events)
			s := faults.Wrap(inner, faults.FailReadAfter(tt.k, faults.Always()))

			n, err := count(t, s.ReadStream(ctx, "order-1", 0))
			assert.Equal(t, tt.wantRead, n)
			assert.ErrorIs(t, err, faults.ErrInjected)
			assert.ErrorIs(t, err, eventstore.ErrUnavailable)
			assert.Contains(t, err.Error(), "read stream order-1")

			n, err = count(t, s.ReadAll(ctx, eventstore.Start()))
			assert.Equal(t, tt.wantRead, n)
			assert.ErrorIs(t, err, faults.ErrInjected)
			assert.Equal(t, int64(2), s.Stats().FailedReads)
		})
	}
}

func TestFailReadPassesInnerErrors(t *testing.T) {
	s := faults.Wrap(memory.New(), faults.FailReadAfter(3, faults.Always()))
	_, err := count(t, s.ReadStream(context.Background(), "missing-1", 0))
	assert.ErrorIs(t, err, eventstore.ErrStreamNotFound)
	assert.NotErrorIs(t, err, faults.ErrInjected)
}

func TestDropSubscriptionAfter(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inner := memory.New()
	seed(t, inner, "order-1", 1)
	s := faults.Wrap(inner, faults.DropSubscriptionAfter(3, faults.Once()))

	var got []eventstore.Message
	var end error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range s.SubscribeAll(ctx, eventstore.Start()) {
			if err != nil {
				end = err
				return
			}
			got = append(got, m)
			if m.CaughtUp {
				// Live events arrive after the catch-up signal.
				for i := range 5 {
					_, err := inner.Append(ctx, "order-2", eventstore.Any(), event(100+i))
					assert.NoError(t, err)
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not drop")
	}
	require.Len(t, got, 4, "1 caught-up event, the CaughtUp signal, 2 live events")
	assert.True(t, got[1].CaughtUp)
	assert.ErrorIs(t, end, faults.ErrInjected)
	assert.Contains(t, end.Error(), "subscribe to all after")
	assert.Equal(t, int64(1), s.Stats().DroppedSubscriptions)

	// Once: the next subscription is not dropped.
	ctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	n := 0
	for m, err := range s.SubscribeAll(ctx2, eventstore.Start()) {
		require.NoError(t, err)
		if m.CaughtUp {
			cancel2()
			continue
		}
		n++
	}
	assert.Equal(t, 6, n)
}

func TestDelayEndsWithContext(t *testing.T) {
	inner := memory.New()
	s := faults.Wrap(inner, faults.Delay(time.Hour, faults.Always()).On(faults.OpAppend))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Append(ctx, "order-1", eventstore.NoStream(), event(1))
	assert.ErrorIs(t, err, context.Canceled)
	_, err = count(t, inner.ReadStream(context.Background(), "order-1", 0))
	assert.ErrorIs(t, err, eventstore.ErrStreamNotFound, "a call cancelled while delayed writes nothing")

	// On(OpAppend): reads are not delayed.
	_, err = count(t, s.ReadAll(context.Background(), eventstore.Start()))
	require.NoError(t, err)
	assert.Equal(t, int64(1), s.Stats().Delays)
}

func TestDelayWaits(t *testing.T) {
	s := faults.Wrap(memory.New(), faults.Delay(time.Millisecond, faults.EveryNth(2)))
	ctx := context.Background()
	for i := range 4 {
		_, err := s.Append(ctx, "order-1", eventstore.Any(), event(i))
		require.NoError(t, err)
	}
	assert.Equal(t, int64(2), s.Stats().Delays)
}

func TestForStreamsNarrowsTheRule(t *testing.T) {
	ctx := context.Background()
	s := faults.Wrap(memory.New(), faults.FailBeforeAppend(faults.Always()).ForStreams("payment-"))
	_, err := s.Append(ctx, "order-1", eventstore.NoStream(), event(1))
	require.NoError(t, err)
	_, err = s.Append(ctx, "payment-1", eventstore.NoStream(), event(2))
	require.ErrorIs(t, err, faults.ErrInjected)
	_, err = count(t, s.ReadAll(ctx, eventstore.Start()))
	require.NoError(t, err)
}

func TestFirstFailureWinsAndEveryRuleCounts(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	s := faults.Wrap(inner,
		faults.FailBeforeAppend(faults.OnCalls(1)),
		faults.LostAck(faults.OnCalls(1, 2)),
	)
	_, err := s.Append(ctx, "order-1", eventstore.NoStream(), event(1))
	var injected *faults.InjectedError
	require.ErrorAs(t, err, &injected)
	assert.Equal(t, faults.KindFailBeforeAppend, injected.Kind)

	// Call 2 of the LostAck rule (it counted call 1 too).
	_, err = s.Append(ctx, "order-1", eventstore.NoStream(), event(1))
	require.ErrorAs(t, err, &injected)
	assert.Equal(t, faults.KindLostAck, injected.Kind)
	assert.Equal(t, uint64(2), injected.Call)
	st := s.Stats()
	assert.Equal(t, int64(2), st.Injected())
}

// The number of faults is a function of the number of calls, whatever the
// goroutines' interleaving.
func TestConcurrentCallsAreCountedExactly(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	s := faults.Wrap(inner, faults.LostAck(faults.EveryNth(5)))
	const workers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				stream := fmt.Sprintf("order-%d-%d", w, i)
				_, err := s.Append(ctx, stream, eventstore.NoStream(), event(i))
				if err != nil {
					assert.ErrorIs(t, err, faults.ErrInjected)
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, workers*each/5, failed)
	assert.Equal(t, int64(workers*each/5), s.Stats().LostAcks)
	n, err := count(t, inner.ReadAll(ctx, eventstore.Start()))
	require.NoError(t, err)
	assert.Equal(t, workers*each, n, "every lost ack was written")
}

func TestHead(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	seed(t, inner, "order-1", 2)
	s := faults.Wrap(inner, faults.FailReadAfter(0, faults.Always()))
	head, err := s.Head(ctx)
	require.NoError(t, err)
	want, _ := inner.Head(ctx)
	assert.Equal(t, want, head)

	_, err = faults.Wrap(headless{inner}).Head(ctx)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}

// headless hides the inner store's Head.
type headless struct{ eventstore.Store }

func TestCloseClosesInner(t *testing.T) {
	inner := memory.New()
	s := faults.Wrap(inner)
	require.NoError(t, s.Close())
	_, err := inner.Append(context.Background(), "order-1", eventstore.Any(), event(1))
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	assert.Same(t, inner, s.Inner())
}
