package command_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// raceBeforeAppend, when armed, runs before just ahead of the next append that
// reaches it: another process writing between the handler's read and its append.
type raceBeforeAppend struct {
	eventstore.Store
	armed  atomic.Bool
	before func()
}

func (r *raceBeforeAppend) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if r.armed.CompareAndSwap(true, false) {
		r.before()
	}
	return r.Store.Append(ctx, stream, expected, events...)
}

// rendezvousStore holds the first two appends until both arrived: two handlers
// that each read the aggregate before either wrote decide on the same revision,
// so one of them meets a conflict.
type rendezvousStore struct {
	eventstore.Store
	arrived atomic.Int64
	both    chan struct{}
}

func (r *rendezvousStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	switch r.arrived.Add(1) {
	case 1:
		select {
		case <-r.both:
		case <-time.After(5 * time.Second): // the test fails on its conflict count
		}
	case 2:
		close(r.both)
	}
	return r.Store.Append(ctx, stream, expected, events...)
}

// TestConflictReadsOnlyTheNewEvents is G4's retry made cheap: after a conflict the
// handler reads the events written since the revision it knew, not the stream
// from revision 0, with or without the cache.
func TestConflictReadsOnlyTheNewEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, inner eventstore.Store) {
		for _, cache := range []int{0, 8} {
			t.Run(fmt.Sprintf("cache=%d", cache), func(t *testing.T) {
				ctx := t.Context()
				agg := fmt.Sprintf("hot-%d", cache)
				const n = 50
				other := newHandler(t, inner) // another process
				race := &raceBeforeAppend{Store: inner}
				store := &countingStore{Store: race}
				h := newHandler(t, store, append(fastRetries(), command.WithCache(cache))...)
				for i := range n {
					_, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("c-%d", i), AggregateID: agg, Payload: Deposit{Amount: 1}})
					require.NoError(t, err)
				}
				// Arm the race: the other process deposits 5 just before h appends.
				race.before = func() {
					_, err := other.Handle(ctx, cmd{ID: "other", AggregateID: agg, Payload: Deposit{Amount: 5}})
					require.NoError(t, err)
				}
				race.armed.Store(true)
				before, read0 := h.Stats(), store.eventsRead.Load()
				res, err := h.Handle(ctx, cmd{ID: "d", AggregateID: agg, Payload: Deposit{Amount: 7}})
				require.NoError(t, err)
				require.Equal(t, uint64(n+1), res.Revision)
				s := h.Stats()
				require.Equal(t, before.ConflictsRetried+1, s.ConflictsRetried)
				wantRead := int64(1) // the other process's event, read by the catch-up
				if cache == 0 {
					wantRead += n // the first load of the command: the stream from 0
					require.Equal(t, before.Loads+1, s.Loads)
				} else {
					require.Equal(t, before.Loads, s.Loads, "no load: the cached aggregate is caught up")
				}
				require.Equal(t, wantRead, store.eventsRead.Load()-read0, "only the new event read after the conflict")
				require.Equal(t, before.EventsCaughtUp+1, s.EventsCaughtUp)

				// The next commands of the aggregate decide on what this one left.
				_, err = h.Handle(ctx, cmd{ID: "w", AggregateID: agg, Payload: Withdraw{Amount: n + 5 + 7}})
				require.NoError(t, err)
				_, err = h.Handle(ctx, cmd{ID: "w2", AggregateID: agg, Payload: Withdraw{Amount: 1}})
				require.ErrorIs(t, err, errInsufficient)
				st, rev, err := loadAcc(other, ctx, agg)
				require.NoError(t, err)
				require.Equal(t, 0, st.Balance)
				require.Equal(t, uint64(n+2), rev)
			})
		}
	})
}

// TestOneHandlerRunsAnAggregateOneCommandAtATime: 32 goroutines send different
// commands to one aggregate through one handler. They take turns (commands queued
// together are decided in a row and written in one append), so none meets a
// conflict, and each decides on the state the one before it left.
func TestOneHandlerRunsAnAggregateOneCommandAtATime(t *testing.T) {
	eachBackend(t, func(t *testing.T, inner eventstore.Store) {
		for _, cache := range []int{0, 8} {
			t.Run(fmt.Sprintf("cache=%d", cache), func(t *testing.T) {
				ctx := t.Context()
				agg := fmt.Sprintf("one-%d", cache)
				store := &countingStore{Store: inner}
				// No retry: a single conflict would fail its command.
				h := newHandler(t, store, command.WithRetries(0), command.WithCache(cache))
				const n = 32
				var wg sync.WaitGroup
				errs := make([]error, n)
				for i := range n {
					wg.Go(func() {
						var p AccountCommand = Deposit{Amount: i + 1, Ref: fmt.Sprint(i)}
						if i%4 == 3 {
							p = Withdraw{Amount: 1} // rejected or applied, by the state at its turn
						}
						_, errs[i] = h.Handle(ctx, cmd{ID: fmt.Sprintf("c-%d", i), AggregateID: agg, Payload: p})
					})
				}
				wg.Wait()
				want, count := 0, 0
				for i := range n {
					if i%4 == 3 {
						if errs[i] != nil {
							require.ErrorIs(t, errs[i], errInsufficient, "command %d", i)
							continue
						}
						want--
						count++
						continue
					}
					require.NoError(t, errs[i], "command %d", i)
					want += i + 1
					count++
				}
				s := h.Stats()
				require.Zero(t, s.ConflictsRetried, "commands of one process do not conflict")
				require.Zero(t, s.RetriesExhausted)
				require.Equal(t, uint64(count), s.Applied)
				require.LessOrEqual(t, store.appends.Load(), int64(count), "at most one append per applied command")
				st, rev, err := loadAcc(h, ctx, agg)
				require.NoError(t, err)
				require.Equal(t, want, st.Balance)
				require.Equal(t, count, st.Count)
				require.Equal(t, uint64(count-1), rev)
			})
		}
	})
}

// TestTwoProcessesOnOneHotAggregateConverge: two handlers, as two processes would
// have, send 16 commands each to one aggregate. Their first appends are held until
// both decided on the same revision, so at least one conflict is certain; every
// conflict is caught up and retried, and the aggregate ends with every command
// applied once.
func TestTwoProcessesOnOneHotAggregateConverge(t *testing.T) {
	eachBackend(t, func(t *testing.T, inner eventstore.Store) {
		ctx := t.Context()
		store := &rendezvousStore{Store: inner, both: make(chan struct{})}
		quiet := command.WithLogger(slog.New(slog.DiscardHandler))
		hs := []accountHandler{
			newHandler(t, store, append(fastRetries(), quiet)...),
			newHandler(t, store, append(fastRetries(), quiet, command.WithCache(8))...),
		}
		const n = 32
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = hs[i%2].Handle(ctx, cmd{ID: fmt.Sprintf("c-%d", i), AggregateID: "hot",
					Payload: Deposit{Amount: i + 1, Ref: fmt.Sprint(i)}})
			})
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "command %d", i)
		}
		s0, s1 := hs[0].Stats(), hs[1].Stats()
		require.GreaterOrEqual(t, s0.ConflictsRetried+s1.ConflictsRetried, uint64(1))
		require.GreaterOrEqual(t, s0.CatchUps+s1.CatchUps, s0.ConflictsRetried+s1.ConflictsRetried, "each retry caught up")
		require.Zero(t, s0.RetriesExhausted+s1.RetriesExhausted)
		require.Equal(t, uint64(n), s0.Applied+s1.Applied)
		st, rev, err := loadAcc(hs[0], ctx, "hot")
		require.NoError(t, err)
		require.Equal(t, n*(n+1)/2, st.Balance)
		require.Equal(t, n, st.Count)
		require.Equal(t, uint64(n-1), rev)
		seen := map[string]bool{}
		for _, ev := range streamEvents(t, inner, "account-hot") {
			m, err := command.DecodeMetadata(ev.Metadata)
			require.NoError(t, err)
			require.False(t, seen[m.CommandID], "command %s recorded twice", m.CommandID)
			seen[m.CommandID] = true
		}
		require.Len(t, seen, n)
		t.Logf("conflicts retried: %d + %d, catch-ups %d + %d", s0.ConflictsRetried, s1.ConflictsRetried, s0.CatchUps, s1.CatchUps)
	})
}

// TestWaitingForTheTurnEndsWithTheContext: a command waiting behind a slow one of
// the same aggregate gives up when its context ends, writing nothing; a command of
// another aggregate does not wait.
func TestWaitingForTheTurnEndsWithTheContext(t *testing.T) {
	eachBackend(t, func(t *testing.T, inner eventstore.Store) {
		ctx := t.Context()
		entered, leave := make(chan struct{}), make(chan struct{})
		var once sync.Once
		slow := &raceBeforeAppend{Store: inner, before: func() { close(entered); <-leave }}
		slow.armed.Store(true)
		h := newHandler(t, slow)
		done := make(chan error, 1)
		go func() {
			_, err := h.Handle(ctx, cmd{ID: "slow", AggregateID: "a", Payload: Deposit{Amount: 1}})
			done <- err
		}()
		<-entered // "slow" holds a's turn, in its append
		defer once.Do(func() { close(leave) })

		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err := h.Handle(short, cmd{ID: "waits", AggregateID: "a", Payload: Deposit{Amount: 2}})
		require.ErrorIs(t, err, context.DeadlineExceeded)

		_, err = h.Handle(ctx, cmd{ID: "other", AggregateID: "b", Payload: Deposit{Amount: 3}})
		require.NoError(t, err, "another aggregate runs while a's turn is taken")

		once.Do(func() { close(leave) })
		require.NoError(t, <-done)
		st, _, err := loadAcc(h, ctx, "a")
		require.NoError(t, err)
		require.Equal(t, 1, st.Balance, "the command that gave up wrote nothing")
	})
}
