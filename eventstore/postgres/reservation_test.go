package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/reservation"
)

// Reservations (G5) are streams in the event store, claimed with NoStream: on
// PostgreSQL they rest on the append function's revision check. These are the
// reservation and command tests of them, on a real server, with replicas on
// stores of their own.

// users: an e-mail address belongs to one user at a time; it is claimed in a
// reservation stream.
type (
	register   struct{ Email string }
	registered struct{ Email string }
)

func userDecider() aggregate.Decider[string, register, registered] {
	return aggregate.Decider[string, register, registered]{
		Category: "user",
		Initial:  func() string { return "" },
		Evolve:   func(_ string, e registered) string { return e.Email },
		Decide: func(email string, c register) ([]registered, error) {
			if email != "" {
				return nil, errors.New("already registered")
			}
			return []registered{registered(c)}, nil
		},
		Keys: func(c register) []string { return []string{"email:" + c.Email} },
	}
}

func newUserHandler(t testing.TB, store eventstore.Store, opts ...command.Option) *command.Handler[string, register, registered] {
	t.Helper()
	codec, err := aggregate.NewCodec[register, registered](aggregate.Command[register]("user.Register"),
		aggregate.Event[registered]("user.Registered"))
	require.NoError(t, err)
	h, err := command.NewHandler(store, userDecider(), codec, opts...)
	require.NoError(t, err)
	return h
}

// TestClaimRace: eight owners on four stores claim one key at once: one wins,
// the others get reservation.ErrClaimed.
func TestClaimRace(t *testing.T) {
	schema := pgtest.Schema(t)
	var rs []*reservation.Reservations
	for range 4 {
		r, err := reservation.New(pgtest.OpenSchema(t, schema))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	for round := range 5 {
		key := fmt.Sprintf("SKU-%d", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				_, err := rs[i%len(rs)].Claim(t.Context(), "sku", key, reservation.Claimant{Owner: fmt.Sprint("owner-", i), CommandID: "c"})
				if err == nil {
					wins.Add(1)
					return
				}
				require.ErrorIs(t, err, reservation.ErrClaimed)
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "round %d: one owner wins", round)
	}
}

// TestWithdrawLeavesAJoinedClaim: a withdrawal frees an unjoined claim and leaves
// one another command of the owner joined.
func TestWithdrawLeavesAJoinedClaim(t *testing.T) {
	ctx := t.Context()
	r, err := reservation.New(pgtest.Open(t))
	require.NoError(t, err)
	first := reservation.Claimant{Owner: "invoice-1", CommandID: "warehouse", OwnerStream: "invoice-1"}
	second := reservation.Claimant{Owner: "invoice-1", CommandID: "carrier", OwnerStream: "invoice-1"}

	_, err = r.Claim(ctx, "invoice", "N-1", first)
	require.NoError(t, err)
	ok, err := r.Withdraw(ctx, "invoice", "N-1", first)
	require.NoError(t, err)
	require.True(t, ok)
	_, held, err := r.Lookup(ctx, "invoice", "N-1")
	require.NoError(t, err)
	require.False(t, held)

	_, err = r.Claim(ctx, "invoice", "N-2", first)
	require.NoError(t, err)
	joined, err := r.Claim(ctx, "invoice", "N-2", second)
	require.NoError(t, err)
	require.Equal(t, []string{"carrier"}, joined.Joined)
	ok, err = r.Withdraw(ctx, "invoice", "N-2", first)
	require.NoError(t, err)
	require.False(t, ok, "a joined claim stays")
	c, held, err := r.Lookup(ctx, "invoice", "N-2")
	require.NoError(t, err)
	require.True(t, held)
	require.Equal(t, []string{"carrier"}, c.Joined)
}

// TestReservationCrashBeforeWriteHealsOnRetry: a claim made by a command whose
// events were never written (the process died) is found by the command's retry,
// which goes on; another owner is refused; a released key can be claimed again.
func TestReservationCrashBeforeWriteHealsOnRetry(t *testing.T) {
	store := pgtest.Open(t)
	ctx := t.Context()
	h := newUserHandler(t, store)
	_, err := h.Reservations().Claim(ctx, "user", "email:a@x",
		reservation.Claimant{Owner: "user-u1", CommandID: "reg-1", OwnerStream: "user-u1"})
	require.NoError(t, err)

	res, err := newUserHandler(t, store).Handle(ctx, command.Command[register]{ID: "reg-1", AggregateID: "u1", Payload: register{Email: "a@x"}})
	require.NoError(t, err, "the retry, on another replica, sees its own claim and goes on")
	require.Len(t, res.Events, 1)
	require.Len(t, streamEvents(t, store, reservation.StreamFor("user", "email:a@x")), 1, "claimed once")

	_, err = h.Handle(ctx, command.Command[register]{ID: "reg-2", AggregateID: "u2", Payload: register{Email: "a@x"}})
	require.ErrorIs(t, err, reservation.ErrClaimed)
	require.Nil(t, streamEvents(t, store, "user-u2"))

	require.NoError(t, h.Reservations().Release(ctx, "user", "email:a@x", "user-u1"))
	_, err = h.Handle(ctx, command.Command[register]{ID: "reg-2", AggregateID: "u2", Payload: register{Email: "a@x"}})
	require.NoError(t, err)
}

// TestReservationTwoOwnersRace: two users on two replicas register one address at
// once: one wins, the loser writes nothing.
func TestReservationTwoOwnersRace(t *testing.T) {
	schema := pgtest.Schema(t)
	stores := []eventstore.Store{pgtest.OpenSchema(t, schema), pgtest.OpenSchema(t, schema)}
	ctx := t.Context()
	for round := range 5 {
		email := fmt.Sprintf("race%d@x", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			h := newUserHandler(t, stores[i])
			wg.Go(func() {
				_, errs[i] = h.Handle(ctx, command.Command[register]{ID: fmt.Sprintf("r%d-%d", round, i),
					AggregateID: fmt.Sprintf("u%d-%d", round, i), Payload: register{Email: email}})
			})
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
				continue
			}
			require.ErrorIs(t, err, reservation.ErrClaimed)
			require.Nil(t, streamEvents(t, stores[0], fmt.Sprintf("user-u%d-%d", round, i)), "the loser wrote nothing")
		}
		require.Equal(t, 1, wins, "round %d: one owner wins", round)
	}
}

// invoice numbers: two paths deliver the same shipment under different command
// ids; both decide the same invoice with the same number.
type (
	bill   struct{ Shipment, Number string }
	billed struct{ Shipment, Number string }
)

func newBillHandler(t testing.TB, store eventstore.Store, opts ...command.Option) *command.Handler[string, bill, billed] {
	t.Helper()
	codec, err := aggregate.NewCodec[bill, billed](aggregate.Command[bill]("bill.Bill"), aggregate.Event[billed]("bill.Billed"))
	require.NoError(t, err)
	h, err := command.NewHandler(store, aggregate.Decider[string, bill, billed]{
		Category: "bill",
		Initial:  func() string { return "" },
		Evolve:   func(_ string, e billed) string { return e.Number },
		Decide: func(number string, c bill) ([]billed, error) {
			if number != "" {
				return nil, aggregate.AlreadyDone("shipment " + c.Shipment)
			}
			return []billed{billed(c)}, nil
		},
		Keys: func(c bill) []string { return []string{"number:" + c.Number} },
	}, codec, opts...)
	require.NoError(t, err)
	return h
}

// interleave runs before once, ahead of the first append to a stream named with
// prefix.
type interleave struct {
	eventstore.Store
	once   sync.Once
	prefix string
	before func()
}

func (s *interleave) Append(ctx context.Context, stream string, e eventstore.ExpectedRevision, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	if strings.HasPrefix(stream, s.prefix) {
		s.once.Do(s.before)
	}
	return s.Store.Append(ctx, stream, e, evs...)
}

// TestLoserDoesNotFreeAKeyTheWinnerWrote: the command that claimed a number and
// then lost the invoice's append to another command of the same invoice (on
// another replica) must not free the number the winner wrote.
func TestLoserDoesNotFreeAKeyTheWinnerWrote(t *testing.T) {
	schema := pgtest.Schema(t)
	warehouseStore, carrierStore := pgtest.OpenSchema(t, schema), pgtest.OpenSchema(t, schema)
	ctx := t.Context()
	carrier := newBillHandler(t, carrierStore)
	wrapped := &interleave{Store: warehouseStore, prefix: "bill-", before: func() {
		res, err := carrier.Handle(ctx, command.Command[bill]{ID: "carrier-msg", AggregateID: "s1", Payload: bill{Shipment: "s1", Number: "N-7"}})
		require.NoError(t, err)
		require.False(t, res.Duplicate)
	}}
	warehouse := newBillHandler(t, wrapped, fastRetries()...)
	res, err := warehouse.Handle(ctx, command.Command[bill]{ID: "warehouse-msg", AggregateID: "s1", Payload: bill{Shipment: "s1", Number: "N-7"}})
	require.NoError(t, err)
	require.True(t, res.Duplicate)
	require.Equal(t, command.ByBusinessKey, res.DuplicateBy)

	claim, ok, err := warehouse.Reservations().Lookup(ctx, "bill", "number:N-7")
	require.NoError(t, err)
	require.True(t, ok, "the number stays claimed: the invoice holds it")
	require.Equal(t, "bill-s1", claim.Owner)

	_, err = newBillHandler(t, carrierStore).Handle(ctx, command.Command[bill]{ID: "x", AggregateID: "s2", Payload: bill{Shipment: "s2", Number: "N-7"}})
	require.ErrorIs(t, err, reservation.ErrClaimed)
	freed, err := warehouse.ReconcileReservations(ctx, -time.Hour)
	require.NoError(t, err)
	require.Empty(t, freed)
}
