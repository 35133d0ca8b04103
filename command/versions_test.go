package command_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/memory"
)

// Audit asks the account to record the balance its decider sees.
type Audit struct{}
type Audited struct{ Balance int }

func (Audit) isAccountCommand() {}
func (Audited) isAccountEvent() {}

// auditingDecider is the account decider that also answers Audit by recording the
// balance it decided on; with pointers, Decide returns pointers to its events.
// Evolve only knows event values.
func auditingDecider(pointers bool) accountDecider_ {
	d := accountDecider()
	values := d.Decide
	d.Decide = func(s Account, c AccountCommand) ([]AccountEvent, error) {
		if _, ok := c.(Audit); ok {
			return []AccountEvent{Audited{Balance: s.Balance}}, nil
		}
		events, err := values(s, c)
		for i, e := range events {
			switch e := e.(type) {
			case Deposited:
				if pointers {
					events[i] = &e
				}
			case Opened:
				if pointers {
					events[i] = &e
				}
			}
		}
		return events, err
	}
	return d
}

func auditCodec(t testing.TB) *aggregate.Codec[AccountCommand, AccountEvent] {
	t.Helper()
	c, err := aggregate.NewCodec[AccountCommand, AccountEvent](
		aggregate.Command[Open]("account.Open"), aggregate.Command[Deposit]("account.Deposit"),
		aggregate.Command[Audit]("account.Audit"),
		aggregate.Event[Opened]("account.Opened"), aggregate.Event[Deposited]("account.Deposited"),
		aggregate.Event[Audited]("account.Audited"),
	)
	require.NoError(t, err)
	return c
}

// TestCachedStateEqualsReloadedState: Evolve sees an event as the codec decodes
// it, right after the append as after a reload, so deciding on a cached aggregate
// and on a reloaded one give the same answer, whether Decide returns values or
// pointers.
func TestCachedStateEqualsReloadedState(t *testing.T) {
	for name, d := range map[string]accountDecider_{"values": auditingDecider(false), "pointers": auditingDecider(true)} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			store := memory.New()
			cached, err := command.NewHandler(store, d, auditCodec(t), command.WithCache(16))
			require.NoError(t, err)
			_, err = cached.Handle(ctx, cmd{ID: "open", AggregateID: "a", Payload: Open{Owner: "o"}})
			require.NoError(t, err)
			for i := range 10 {
				_, err := cached.Handle(ctx, cmd{ID: "dep-" + string(rune('0'+i)), AggregateID: "a", Payload: Deposit{Amount: i + 1}})
				require.NoError(t, err)
			}
			res, err := cached.Handle(ctx, cmd{ID: "audit", AggregateID: "a", Payload: Audit{}})
			require.NoError(t, err)
			require.Equal(t, uint64(1), cached.Stats().Loads, "every command after the first decided on the cached aggregate")

			fresh, err := command.NewHandler(store, d, auditCodec(t))
			require.NoError(t, err)
			loaded, err := fresh.Load(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, 55, loaded.State.Balance, "the reloaded state")
			seen, err := auditCodec(t).DecodeEvent(res.Events[0].Type, res.Events[0].Data)
			require.NoError(t, err)
			require.Equal(t, AccountEvent(Audited{Balance: loaded.State.Balance}), seen, "the cached state the decider saw")
		})
	}
}

// TestLoadTellsAMissingStream: a missing aggregate and a one-event aggregate both
// stand at revision 0; Exists tells them apart, and Expected is what an append
// after the load must state.
func TestLoadTellsAMissingStream(t *testing.T) {
	ctx := t.Context()
	h := newHandler(t, memory.New())
	missing, err := h.Load(ctx, "a")
	require.NoError(t, err)
	require.False(t, missing.Exists)
	require.Equal(t, "account-a", missing.Stream)
	_, err = h.Handle(ctx, cmd{ID: "open", AggregateID: "a", Payload: Open{Owner: "o"}})
	require.NoError(t, err)
	one, err := h.Load(ctx, "a")
	require.NoError(t, err)
	require.True(t, one.Exists)
	require.Equal(t, uint64(0), one.Revision)
	require.Equal(t, "no stream", missing.Expected().String())
	require.Equal(t, "revision 0", one.Expected().String())
}

// DepositV2 is the Deposit command after a deploy that added a field, under the
// same stored name.
type DepositV2 struct {
	Amount int
	Ref    string
	Note   string `json:",omitempty"`
	Tags   []string
}

func (DepositV2) isAccountCommand() {}

func codecV2(t testing.TB) *aggregate.Codec[AccountCommand, AccountEvent] {
	t.Helper()
	c, err := aggregate.NewCodec[AccountCommand, AccountEvent](
		aggregate.Command[DepositV2]("account.Deposit"), aggregate.Event[Deposited]("account.Deposited"))
	require.NoError(t, err)
	return c
}

// TestFingerprintSurvivesAnAddedField: a deploy that adds a field to a command
// type does not turn redeliveries of messages sent before it into reused keys: a
// payload that leaves the field at its zero value keeps its fingerprint; setting
// the field is a change of meaning, and a reuse of the key is loud.
func TestFingerprintSurvivesAnAddedField(t *testing.T) {
	v1, err := command.Fingerprint(accountCodec(t), AccountCommand(Deposit{Amount: 5, Ref: "r"}))
	require.NoError(t, err)
	v2, err := command.Fingerprint(codecV2(t), AccountCommand(DepositV2{Amount: 5, Ref: "r"}))
	require.NoError(t, err)
	require.Equal(t, v1, v2, "the new field at its zero value changes nothing")
	noted, err := command.Fingerprint(codecV2(t), AccountCommand(DepositV2{Amount: 5, Ref: "r", Note: "n"}))
	require.NoError(t, err)
	require.NotEqual(t, v1, noted, "a set field changes the meaning")
	changed, err := command.Fingerprint(accountCodec(t), AccountCommand(Deposit{Amount: 6, Ref: "r"}))
	require.NoError(t, err)
	require.NotEqual(t, v1, changed)

	// Through handlers: before the deploy, then a redelivery after it.
	ctx := t.Context()
	store := memory.New()
	before := newHandler(t, store)
	first, err := before.Handle(ctx, cmd{ID: "msg-1", AggregateID: "a", Payload: Deposit{Amount: 5, Ref: "r"}})
	require.NoError(t, err)
	d := accountDecider()
	d.Decide = func(_ Account, c AccountCommand) ([]AccountEvent, error) {
		v := c.(DepositV2)
		return []AccountEvent{Deposited{Amount: v.Amount, Ref: v.Ref}}, nil
	}
	after, err := command.NewHandler(store, d, codecV2(t))
	require.NoError(t, err)
	again, err := after.Handle(ctx, cmd{ID: "msg-1", AggregateID: "a", Payload: DepositV2{Amount: 5, Ref: "r"}})
	require.NoError(t, err)
	require.True(t, again.Duplicate, "the redelivery is a duplicate after the deploy")
	require.Equal(t, first.Revision, again.Revision)
	_, err = after.Handle(ctx, cmd{ID: "msg-1", AggregateID: "a", Payload: DepositV2{Amount: 5, Ref: "r", Note: "other"}})
	require.ErrorIs(t, err, command.ErrIdempotencyKeyReused)
}
