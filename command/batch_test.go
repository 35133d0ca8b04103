package command_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// blockingStore holds every append until release is closed, so that commands pile
// up behind the first one.
type blockingStore struct {
	*countingStore
	release chan struct{}
	once    sync.Once
	first   chan struct{}
}

func (b *blockingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	b.once.Do(func() { close(b.first) })
	<-b.release
	return b.countingStore.Append(ctx, stream, expected, events...)
}

// TestQueuedCommandsShareOneAppend (P8): commands queued behind one another on a
// hot aggregate are decided in a row on the evolving state and written in one
// append; each is answered with its own events and revision; a rejection among
// them, and a second delivery of one of them, are answered on their own and sink
// nothing.
func TestQueuedCommandsShareOneAppend(t *testing.T) {
	eachBackend(t, func(t *testing.T, inner eventstore.Store) {
		ctx := t.Context()
		store := &blockingStore{countingStore: &countingStore{Store: inner}, release: make(chan struct{}), first: make(chan struct{})}
		h := newHandler(t, store)
		// The first command takes the turn and waits in its append.
		firstDone := make(chan error, 1)
		go func() {
			_, err := h.Handle(ctx, cmd{ID: "first", AggregateID: "hot", Payload: Deposit{Amount: 1}})
			firstDone <- err
		}()
		<-store.first
		const n = 20
		var wg sync.WaitGroup
		results := make([]command.Result, n+2)
		errs := make([]error, n+2)
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = h.Handle(ctx, cmd{ID: fmt.Sprintf("dep-%d", i), AggregateID: "hot", Payload: Deposit{Amount: 10}})
			})
		}
		wg.Go(func() { // more than the balance: rejected, by the state at its turn
			results[n], errs[n] = h.Handle(ctx, cmd{ID: "too-much", AggregateID: "hot", Payload: Withdraw{Amount: 1_000_000}})
		})
		wg.Go(func() { // a second delivery of dep-0
			results[n+1], errs[n+1] = h.Handle(ctx, cmd{ID: "dep-0", AggregateID: "hot", Payload: Deposit{Amount: 10}})
		})
		for h.Stats().Handled < n+3 {
			runtime.Gosched()
		}
		close(store.release)
		require.NoError(t, <-firstDone)
		wg.Wait()

		revisions := map[uint64]bool{}
		applied := 0
		for i := range n {
			require.NoError(t, errs[i], "command %d", i)
			if results[i].Duplicate {
				continue
			}
			applied++
			require.Len(t, results[i].Events, 1)
			require.False(t, revisions[results[i].Revision], "each command has its own revision")
			revisions[results[i].Revision] = true
			require.Equal(t, results[i].Revision, results[i].Events[0].Revision)
		}
		require.ErrorIs(t, errs[n], errInsufficient, "the rejection is answered on its own")
		require.NoError(t, errs[n+1])
		dup0 := results[0].Duplicate != results[n+1].Duplicate
		require.True(t, dup0, "of two deliveries of dep-0 exactly one applied it")
		require.Equal(t, results[0].Revision, results[n+1].Revision)
		require.Equal(t, n, applied+boolToInt(results[0].Duplicate))

		require.Len(t, streamEvents(t, inner, "account-hot"), n+1, "each deposit once")
		require.Less(t, store.appends.Load(), int64(n), "queued commands share appends")
		st, rev, err := loadAcc(h, ctx, "hot")
		require.NoError(t, err)
		require.Equal(t, 1+10*n, st.Balance)
		require.Equal(t, uint64(n), rev)
	})
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
