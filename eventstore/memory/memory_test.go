package memory_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestConformanceSmallLimit(t *testing.T) {
	const limit = 4 << 10
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s, err := memory.Open(memory.WithMaxAppendSize(limit))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, storetest.MaxAppendSize(limit))
}

func TestRecordedAtUsesClockInUTC(t *testing.T) {
	zone := time.FixedZone("UTC+5", 5*60*60)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, zone)
	s, err := memory.Open(memory.WithClock(func() time.Time { return at }))
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Append(t.Context(), "clock-1", eventstore.NoStream(), eventstore.EventData{ID: uuid.New(), Type: "A"})
	require.NoError(t, err)
	for ev, err := range s.ReadStream(t.Context(), "clock-1", 0) {
		require.NoError(t, err)
		require.True(t, at.Equal(ev.RecordedAt))
		require.Equal(t, time.UTC, ev.RecordedAt.Location())
	}
}

func TestDefaultMaxAppendSize(t *testing.T) {
	s := memory.New()
	defer s.Close()
	big := eventstore.EventData{ID: uuid.New(), Type: "A", Data: make([]byte, eventstore.DefaultMaxAppendSize)}
	_, err := s.Append(t.Context(), "big-1", eventstore.NoStream(), big)
	var tooLarge *eventstore.AppendTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, eventstore.DefaultMaxAppendSize, tooLarge.Limit)
	big.Data = big.Data[:eventstore.DefaultMaxAppendSize-1]
	_, err = s.Append(t.Context(), "big-1", eventstore.NoStream(), big)
	require.NoError(t, err)
}

// TestSlicesCopied checks the memory store's own promise: it keeps no reference to
// the caller's slices, and hands out copies, including to subscribers.
func TestSlicesCopied(t *testing.T) {
	s := memory.New()
	defer s.Close()
	data, meta := []byte("data"), []byte("meta")
	_, err := s.Append(t.Context(), "copy-1", eventstore.NoStream(), eventstore.EventData{ID: uuid.New(), Type: "A", Data: data, Metadata: meta})
	require.NoError(t, err)
	data[0], meta[0] = 'X', 'X'

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for msg, err := range s.SubscribeAll(ctx, eventstore.Start()) {
		require.NoError(t, err)
		if msg.CaughtUp {
			break
		}
		require.Equal(t, "data", string(msg.Event.Data))
		msg.Event.Data[0], msg.Event.Metadata[0] = 'Y', 'Y'
	}
	for ev, err := range s.ReadAll(t.Context(), eventstore.Start()) {
		require.NoError(t, err)
		require.Equal(t, "data", string(ev.Data))
		require.Equal(t, "meta", string(ev.Metadata))
	}
}

// TestBroadcastWakesEverySubscriber: one commit wakes every live subscription.
func TestBroadcastWakesEverySubscriber(t *testing.T) {
	s := memory.New()
	defer s.Close()
	const subscribers = 10
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var live, got sync.WaitGroup
	live.Add(subscribers)
	got.Add(subscribers)
	for range subscribers {
		go func() {
			for msg, err := range s.SubscribeAll(ctx, eventstore.Start()) {
				if err != nil {
					return
				}
				if msg.CaughtUp {
					live.Done()
					continue
				}
				got.Done()
				return
			}
		}()
	}
	live.Wait()
	_, err := s.Append(t.Context(), "wake-1", eventstore.NoStream(), eventstore.EventData{ID: uuid.New(), Type: "A"})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { got.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("not every subscriber was woken by the commit")
	}
}

func TestCloseTwice(t *testing.T) {
	s := memory.New()
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing a closed store does nothing")
}

func BenchmarkAppend(b *testing.B) {
	s := memory.New()
	defer s.Close()
	ctx := context.Background()
	ev := eventstore.EventData{Type: "Benchmarked", Data: make([]byte, 200), Metadata: make([]byte, 100)}
	expected := eventstore.NoStream()
	for b.Loop() {
		ev.ID = uuid.New()
		res, err := s.Append(ctx, "bench-1", expected, ev)
		if err != nil {
			b.Fatal(err)
		}
		expected = eventstore.Exact(res.Revision)
	}
}

func BenchmarkReadStream100(b *testing.B) {
	s := memory.New()
	defer s.Close()
	ctx := context.Background()
	evs := make([]eventstore.EventData, 100)
	for i := range evs {
		evs[i] = eventstore.EventData{ID: uuid.New(), Type: "Benchmarked", Data: make([]byte, 200)}
	}
	if _, err := s.Append(ctx, "bench-1", eventstore.NoStream(), evs...); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for _, err := range s.ReadStream(ctx, "bench-1", 0) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	for name, opt := range map[string]memory.Option{
		"zero limit": memory.WithMaxAppendSize(0),
		"nil clock":  memory.WithClock(nil),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := memory.Open(opt)
			require.ErrorIs(t, err, eventstore.ErrInvalidOption)
			require.Nil(t, s)
		})
	}
}
