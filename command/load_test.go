package command_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// TestLoadFoldsLongStreams loads streams longer than the handler folds at a time
// (and not a multiple of it): the state counts every event once, in order, and a
// redelivery of any command of the stream is a duplicate returning its original
// event.
func TestLoadFoldsLongStreams(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		const n = 150
		writer := newHandler(t, store, command.WithCache(1))
		for i := range n {
			_, err := writer.Handle(ctx, cmd{ID: fmt.Sprintf("c-%d", i), AggregateID: "long", Payload: Deposit{Amount: i + 1}})
			require.NoError(t, err)
		}
		h := newHandler(t, store) // no cache: every Handle loads
		st, rev, err := loadAcc(h, ctx, "long")
		require.NoError(t, err)
		require.Equal(t, n*(n+1)/2, st.Balance)
		require.Equal(t, n, st.Count)
		require.Equal(t, uint64(n-1), rev)

		for _, i := range []int{0, 63, 64, 100, n - 1} {
			res, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("c-%d", i), AggregateID: "long", Payload: Deposit{Amount: i + 1}})
			require.NoError(t, err)
			require.True(t, res.Duplicate)
			require.Equal(t, uint64(i), res.Revision)
			require.Len(t, res.Events, 1)
			require.Equal(t, uint64(i), res.Events[0].Revision)
			require.JSONEq(t, fmt.Sprintf(`{"Amount":%d,"Ref":""}`, i+1), string(res.Events[0].Data))
		}
		// A new command is decided on the whole state.
		_, err = h.Handle(ctx, cmd{ID: "w", AggregateID: "long", Payload: Withdraw{Amount: n * (n + 1) / 2}})
		require.NoError(t, err)
		_, err = h.Handle(ctx, cmd{ID: "w2", AggregateID: "long", Payload: Withdraw{Amount: 1}})
		require.ErrorIs(t, err, errInsufficient)
	})
}

// TestUndecodableEventFailsNewCommands stores an event of a type the codec does
// not know, with idem metadata: a new command and Load fail with
// ErrUnknownEventType naming the stream and revision, and nothing is written
// (G11). A redelivered command is still answered from its recorded metadata and
// original events (G3).
func TestUndecodableEventFailsNewCommands(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		h := newHandler(t, store)
		first, err := h.Handle(ctx, cmd{ID: "c-1", AggregateID: "bad", Payload: Deposit{Amount: 5}})
		require.NoError(t, err)
		md := command.Metadata{CommandID: "foreign", Fingerprint: "f", Index: 0, Count: 1}.Encode()
		_, err = store.Append(ctx, "account-bad", eventstore.Exact(0),
			eventstore.EventData{ID: uuid.New(), Type: "account.Unknown", Data: []byte(`{}`), Metadata: md})
		require.NoError(t, err)

		_, _, err = loadAcc(h, ctx, "bad")
		require.ErrorIs(t, err, aggregate.ErrUnknownEventType)
		_, err = h.Handle(ctx, cmd{ID: "c-2", AggregateID: "bad", Payload: Deposit{Amount: 1}})
		require.ErrorIs(t, err, aggregate.ErrUnknownEventType)
		require.Contains(t, err.Error(), "account-bad at revision 1")
		require.Len(t, streamEvents(t, store, "account-bad"), 2)

		dup, err := h.Handle(ctx, cmd{ID: "c-1", AggregateID: "bad", Payload: Deposit{Amount: 5}})
		require.NoError(t, err)
		require.True(t, dup.Duplicate)
		require.Equal(t, first.Events[0].ID, dup.Events[0].ID)

		// The same id with another payload is still loud (G3).
		_, err = h.Handle(ctx, cmd{ID: "c-1", AggregateID: "bad", Payload: Deposit{Amount: 6}})
		var reused *command.IdempotencyKeyReusedError
		require.True(t, errors.As(err, &reused), "got %v", err)
	})
}
