package delivery_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/testkit/delivery"
)

var rough = delivery.Plan{
	Seed:          7,
	DuplicateRate: 0.3,
	ReorderWindow: 4,
	ReplayRate:    0.05,
	RaceRate:      0.2,
}

func TestZeroPlanDeliversOnceInOrder(t *testing.T) {
	got := delivery.Plan{}.Schedule(4)
	want := []delivery.Delivery{{Index: 0}, {Index: 1}, {Index: 2}, {Index: 3}}
	assert.Equal(t, want, got)
	assert.Empty(t, delivery.Plan{}.Schedule(0))
}

func TestScheduleIsDeterministicPerSeed(t *testing.T) {
	a, b := rough.Schedule(200), rough.Schedule(200)
	assert.Equal(t, a, b)
	other := rough
	other.Seed++
	assert.NotEqual(t, a, other.Schedule(200))
}

func TestScheduleProperties(t *testing.T) {
	const n = 300
	for seed := range uint64(20) {
		p := rough
		p.Seed = seed
		p.MaxCopies = 3
		p.MaxDelay = time.Millisecond
		s := p.Schedule(n)

		copies := make([]int, n)  // originals and duplicates
		firstAt := make([]int, n) // place of the original among originals
		delivered := make([]bool, n)
		originals := 0
		for _, d := range s {
			require.True(t, d.Index >= 0 && d.Index < n)
			require.True(t, d.Delay >= 0 && d.Delay < p.MaxDelay)
			switch d.Kind {
			case delivery.Original:
				require.False(t, delivered[d.Index], "seed %d: original of %d after another copy", seed, d.Index)
				firstAt[d.Index] = originals
				originals++
				copies[d.Index]++
			case delivery.Duplicate:
				copies[d.Index]++
			case delivery.Replay:
				require.True(t, delivered[d.Index], "seed %d: replay of %d before it was delivered", seed, d.Index)
			}
			delivered[d.Index] = true
		}
		for i := range n {
			require.Equal(t, 1, copies[i]-countKind(s, i, delivery.Duplicate), "seed %d: message %d has one original", seed, i)
			require.LessOrEqual(t, copies[i], 3, "MaxCopies")
			// Message i's original comes after the originals of 0..i-window-1.
			require.GreaterOrEqual(t, firstAt[i], i-p.ReorderWindow, "seed %d: message %d moved too far", seed, i)
			require.LessOrEqual(t, firstAt[i], i+p.ReorderWindow, "seed %d: message %d moved too far", seed, i)
		}
	}
}

func countKind(s []delivery.Delivery, index int, k delivery.Kind) int {
	n := 0
	for _, d := range s {
		if d.Index == index && d.Kind == k {
			n++
		}
	}
	return n
}

func TestScheduleRates(t *testing.T) {
	p := delivery.Plan{Seed: 3, DuplicateRate: 0.5, MaxCopies: 100, ReplayRate: 0.1, RaceRate: 0.25}
	s := p.Schedule(4000)
	var dup, replay, race int
	for _, d := range s {
		switch d.Kind {
		case delivery.Duplicate:
			dup++
		case delivery.Replay:
			replay++
		}
		if d.Race {
			race++
		}
	}
	// Geometric copies: 1/(1-0.5) = 2 copies per message on average.
	assert.InDelta(t, 1.0, float64(dup)/4000, 0.1)
	assert.Positive(t, replay)
	assert.InDelta(t, 0.25, float64(race)/float64(len(s)), 0.03)
}

// With a handler that never fails, what Run delivers is exactly the schedule,
// whatever the interleaving: both sides of a race count.
func TestRunDeliversTheSchedule(t *testing.T) {
	const n = 100
	p := rough
	p.MaxDelay = 200 * time.Microsecond
	msgs := make([]int, n)
	for i := range msgs {
		msgs[i] = i
	}
	var mu sync.Mutex
	seen := make([]int, n)
	rep := delivery.Run(context.Background(), p, msgs, 4, func(_ context.Context, consumer int, m int) error {
		assert.True(t, consumer >= 0 && consumer < 4)
		mu.Lock()
		seen[m]++
		mu.Unlock()
		return nil
	})
	want := make([]int, n)
	races := 0
	for _, d := range p.Schedule(n) {
		want[d.Index]++
		if d.Race {
			want[d.Index]++
			races++
		}
	}
	assert.Equal(t, want, rep.Counts)
	assert.Equal(t, want, seen)
	assert.Equal(t, races, rep.Races)
	assert.Equal(t, n, rep.Unique)
	assert.Equal(t, rep.Delivered-n, rep.Redelivered)
	assert.Equal(t, rep.Delivered, rep.Originals+rep.Duplicates+rep.Replays+rep.Retries)
	assert.True(t, rep.Complete())
	assert.Greater(t, rep.MaxCopies, 1)
	assert.Zero(t, rep.HandlerErrors)
}

// A racing delivery reaches two consumers at the same time: each side waits for
// the other inside the handler, which only returns if both run at once.
func TestRaceRunsTwoHandlersAtOnce(t *testing.T) {
	p := delivery.Plan{RaceRate: 1}
	var inside atomic.Int32
	both := make(chan struct{})
	consumers := make(chan int, 2)
	rep := delivery.Run(context.Background(), p, []string{"capture-1"}, 2, func(_ context.Context, consumer int, _ string) error {
		consumers <- consumer
		if inside.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the racing partner never arrived")
		}
	})
	assert.Equal(t, 2, rep.Delivered)
	assert.Equal(t, 1, rep.Races)
	assert.Zero(t, rep.HandlerErrors)
	assert.NotEqual(t, <-consumers, <-consumers, "two different consumers")
}

func TestRunRedeliversAfterHandlerError(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	rep := delivery.Run(context.Background(), delivery.Plan{}, []string{"a", "b", "c"}, 2, func(_ context.Context, _ int, m string) error {
		mu.Lock()
		defer mu.Unlock()
		calls[m]++
		if m == "b" && calls[m] <= 2 {
			return errors.New("store unavailable")
		}
		return nil
	})
	assert.Equal(t, []int{1, 3, 1}, rep.Counts)
	assert.Equal(t, 2, rep.HandlerErrors)
	assert.Equal(t, 2, rep.Retries)
	assert.True(t, rep.Complete())
}

func TestRunGivesUpAfterMaxAttempts(t *testing.T) {
	p := delivery.Plan{MaxAttempts: 4}
	rep := delivery.Run(context.Background(), p, []string{"poison", "fine"}, 3, func(_ context.Context, _ int, m string) error {
		if m == "poison" {
			return errors.New("cannot handle")
		}
		return nil
	})
	assert.Equal(t, []int{4, 1}, rep.Counts)
	assert.Equal(t, []int{0}, rep.Failed)
	assert.Equal(t, 4, rep.HandlerErrors)
	assert.False(t, rep.Complete())
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs := make([]int, 1000)
	p := delivery.Plan{RaceRate: 0.5, MaxDelay: time.Millisecond}
	rep := delivery.Run(ctx, p, msgs, 3, func(context.Context, int, int) error {
		cancel()
		return nil
	})
	assert.ErrorIs(t, rep.Err, context.Canceled)
	assert.False(t, rep.Complete())
	assert.Less(t, rep.Delivered, 1000)
	assert.Contains(t, rep.String(), "cut short")
}

// An idempotent consumer (dedupe by message id) applies each message once under
// any plan; a naive one applies some twice. This is the check idem's examples make
// against the command handler.
func TestIdempotentConsumerAppliesOnce(t *testing.T) {
	type msg struct{ ID string }
	msgs := []msg{{"m1"}, {"m2"}, {"m3"}, {"m4"}, {"m5"}}
	var mu sync.Mutex
	applied := map[string]int{}
	naive := 0
	rep := delivery.Run(context.Background(), rough, msgs, 3, func(_ context.Context, _ int, m msg) error {
		mu.Lock()
		defer mu.Unlock()
		naive++
		if applied[m.ID] == 0 {
			applied[m.ID]++
		}
		return nil
	})
	assert.Len(t, applied, len(msgs))
	for id, n := range applied {
		assert.Equal(t, 1, n, id)
	}
	assert.Equal(t, rep.Delivered, naive)
	assert.Greater(t, naive, len(msgs), "the plan should have redelivered something")
}

// TestReorderWindowOneReorders: a window of 1 lets neighbours swap; it is not the
// same as no reordering.
func TestReorderWindowOneReorders(t *testing.T) {
	for seed := range uint64(200) {
		for k, d := range (delivery.Plan{Seed: seed, ReorderWindow: 1}).Schedule(20) {
			if d.Index != k {
				return
			}
		}
	}
	t.Fatal("ReorderWindow 1 never moved a message in 200 seeds of 20 messages")
}
