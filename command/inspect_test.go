package command_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/reservation"
)

// handEvent is an event of command id written without a handler, with the
// metadata a handler writes.
func handEvent(stream, id string, index, count int) eventstore.EventData {
	m := command.Metadata{CommandID: id, Fingerprint: "fp-" + id, Index: index, Count: count}
	return eventstore.EventData{ID: command.EventID(stream, id, index), Type: "account.Deposited",
		Data: []byte(`{"Amount":1}`), Metadata: m.Encode()}
}

// collectRecords reads the processed set of stream, failing on error.
func collectRecords(t *testing.T, store eventstore.Store, stream string) []command.CommandRecord {
	t.Helper()
	var out []command.CommandRecord
	for rec, err := range command.Processed(context.Background(), store, stream) {
		require.NoError(t, err)
		out = append(out, rec)
	}
	return out
}

// TestProcessedReadsTheStream: Processed lists every command recorded in the
// stream, in order, with its outcome, fingerprint, revisions and events, whatever
// the handler's dedupe window; events no command wrote are passed over.
func TestProcessedReadsTheStream(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		h := newHandler(t, store, command.WithRecordedRejections(), command.WithRecordedNoOps(), command.WithDedupeWindow(1))
		for _, c := range []cmd{
			{ID: "c-open", AggregateID: "a1", Payload: Open{Owner: "ada"}},
			{ID: "c-dep", AggregateID: "a1", Payload: Deposit{Amount: 5, Ref: "r1"}},
			{ID: "c-big", AggregateID: "a1", Payload: Withdraw{Amount: 50}},
			{ID: "c-touch", AggregateID: "a1", Payload: Touch{}},
		} {
			_, _ = h.Handle(ctx, c)
		}
		_, err := store.Append(ctx, "account-a1", eventstore.Any(),
			eventstore.EventData{ID: uuid.New(), Type: "imported", Data: []byte(`{}`)},
			handEvent("account-a1", "c-two", 0, 2), handEvent("account-a1", "c-two", 1, 2))
		require.NoError(t, err)

		recs := collectRecords(t, store, "account-a1")
		require.Len(t, recs, 5)
		want := []struct {
			id, outcome string
			first, last uint64
		}{
			{"c-open", command.OutcomeApplied, 0, 0}, {"c-dep", command.OutcomeApplied, 1, 1},
			{"c-big", command.OutcomeRejected, 2, 2}, {"c-touch", command.OutcomeNoOp, 3, 3},
			{"c-two", command.OutcomeApplied, 5, 6},
		}
		for i, w := range want {
			r := recs[i]
			require.Equal(t, w.id, r.ID)
			require.Equal(t, w.outcome, r.Outcome(), "%s", w.id)
			require.Equal(t, w.first, r.FirstRevision, "%s", w.id)
			require.Equal(t, w.last, r.LastRevision, "%s", w.id)
			require.Len(t, r.Events, int(w.last-w.first)+1, "%s", w.id)
			require.Equal(t, r.Metadata.Fingerprint, r.Fingerprint)
			require.NotEmpty(t, r.Fingerprint)
			require.Equal(t, "account-a1", r.Stream)
		}
		require.Contains(t, recs[2].Rejection, "insufficient funds")
		require.Equal(t, "account.Deposit", recs[1].Metadata.CommandType)
	})
}

// TestFindProcessed: a recorded command is found, with its events, by lookup or
// by reading the stream; an unknown id and a missing stream say so with typed
// errors, and IsRecorded answers false for both.
func TestFindProcessed(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		h := newHandler(t, store)
		for i, c := range []cmd{
			{ID: "c-open", AggregateID: "a1", Payload: Open{Owner: "ada"}},
			{ID: "c-dep", AggregateID: "a1", Payload: Deposit{Amount: 5, Ref: "r1"}},
		} {
			_, err := h.Handle(ctx, c)
			require.NoError(t, err, "command %d", i)
		}
		for _, s := range []eventstore.Store{store, noFinder{store}} {
			rec, err := command.FindProcessed(ctx, s, "account-a1", "c-dep")
			require.NoError(t, err, "%T", s)
			require.Equal(t, uint64(1), rec.FirstRevision)
			require.Len(t, rec.Events, 1)
			require.Equal(t, "account.Deposited", rec.Events[0].Type)

			_, err = command.FindProcessed(ctx, s, "account-a1", "c-none")
			require.ErrorIs(t, err, command.ErrCommandNotFound)
			_, err = command.FindProcessed(ctx, s, "account-none", "c-dep")
			require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
			for _, q := range [][2]string{{"account-a1", "c-none"}, {"account-none", "c-dep"}} {
				ok, err := command.IsRecorded(ctx, s, q[0], q[1])
				require.NoError(t, err)
				require.False(t, ok, "%v", q)
			}
			ok, err := command.IsRecorded(ctx, s, "account-a1", "c-open")
			require.NoError(t, err)
			require.True(t, ok)
		}
	})
}

// noFinder hides a store's EventFinder.
type noFinder struct{ eventstore.Store }

// TestProcessedRefusesCorruptRecords: metadata that claims to be idem's and does
// not decode, an event out of its command's order, and a command cut short fail
// the read with a *CorruptRecordError; nothing is skipped.
func TestProcessedRefusesCorruptRecords(t *testing.T) {
	for _, c := range []struct {
		name   string
		events func(stream string) []eventstore.EventData
		is     error
	}{
		{"metadata that does not decode", func(s string) []eventstore.EventData {
			e := handEvent(s, "c1", 0, 1)
			e.Metadata = []byte(`{"command_id":"c1","fingerprint":"f","index":"zero","count":1}`)
			return []eventstore.EventData{e}
		}, command.ErrInvalidMetadata},
		{"metadata that is not JSON", func(s string) []eventstore.EventData {
			e := handEvent(s, "c1", 0, 1)
			e.Metadata = []byte(`{"command_id":`)
			return []eventstore.EventData{e}
		}, command.ErrInvalidMetadata},
		{"a later event without the first", func(s string) []eventstore.EventData {
			return []eventstore.EventData{handEvent(s, "c1", 1, 2)}
		}, nil},
		{"another command inside one", func(s string) []eventstore.EventData {
			return []eventstore.EventData{handEvent(s, "c1", 0, 2), handEvent(s, "c2", 0, 1), handEvent(s, "c1", 1, 2)}
		}, nil},
		{"a command cut short", func(s string) []eventstore.EventData {
			return []eventstore.EventData{handEvent(s, "c0", 0, 1), handEvent(s, "c1", 0, 3), handEvent(s, "c1", 1, 3)}
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := backends()[0].open(t)
			stream := "account-x"
			_, err := store.Append(context.Background(), stream, eventstore.NoStream(), c.events(stream)...)
			require.NoError(t, err)
			var got error
			for _, err := range command.Processed(context.Background(), store, stream) {
				if err != nil {
					got = err
				}
			}
			var corrupt *command.CorruptRecordError
			require.ErrorAs(t, got, &corrupt)
			require.ErrorIs(t, got, eventstore.ErrCorrupt)
			require.Equal(t, stream, corrupt.Stream)
			if c.is != nil {
				require.ErrorIs(t, got, c.is)
			}
			_, err = command.FindProcessed(context.Background(), noFinder{store}, stream, "c-other")
			require.ErrorIs(t, err, eventstore.ErrCorrupt, "a lookup that reads a corrupt record does not answer 'not found'")
		})
	}
}

// TestClaimRecorded: a claim counts as recorded when its command or a joiner
// wrote to the owner stream, not when neither did; a claim without an owner
// stream is not judged.
func TestClaimRecorded(t *testing.T) {
	store := backends()[0].open(t)
	ctx := context.Background()
	_, err := newHandler(t, store).Handle(ctx, cmd{ID: "c-open", AggregateID: "a1", Payload: Open{Owner: "ada"}})
	require.NoError(t, err)
	recorded := command.ClaimRecorded(store)
	for _, c := range []struct {
		claim reservation.Claim
		want  bool
	}{
		{reservation.Claim{OwnerStream: "account-a1", CommandID: "c-open"}, true},
		{reservation.Claim{OwnerStream: "account-a1", CommandID: "c-lost", Joined: []string{"c-open"}}, true},
		{reservation.Claim{OwnerStream: "account-a1", CommandID: "c-lost"}, false},
		{reservation.Claim{OwnerStream: "account-none", CommandID: "c-open"}, false},
		{reservation.Claim{CommandID: "c-lost"}, true},
	} {
		got, err := recorded(ctx, c.claim)
		require.NoError(t, err)
		require.Equal(t, c.want, got, fmt.Sprintf("%+v", c.claim))
	}
}
