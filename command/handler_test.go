package command_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

func TestHandleAppliesAndRedeliveryIsDuplicate(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		h := newHandler(t, store)
		c := cmd{ID: "cmd-1", AggregateID: "a1", Payload: Deposit{Amount: 10, Ref: "r1"},
			CorrelationID: "corr", CausationID: "cause", Metadata: map[string]string{"tenant": "t1"}}
		first, err := h.Handle(ctx, c)
		require.NoError(t, err)
		require.False(t, first.Duplicate)
		require.Equal(t, "account-a1", first.Stream)
		require.Equal(t, uint64(0), first.Revision)
		require.Len(t, first.Events, 1)

		// G3: metadata on every event.
		m, err := command.DecodeMetadata(first.Events[0].Metadata)
		require.NoError(t, err)
		require.Len(t, m.Attempt, 16, "the first event names the append that wrote it")
		require.Equal(t, command.Metadata{CommandID: "cmd-1", Fingerprint: first.Fingerprint, CommandType: "account.Deposit",
			CorrelationID: "corr", CausationID: "cause", Index: 0, Count: 1, Attempt: m.Attempt, User: map[string]string{"tenant": "t1"}}, m)
		require.Equal(t, command.EventID("account-a1", "cmd-1", 0), first.Events[0].ID)

		again, err := h.Handle(ctx, c)
		require.NoError(t, err)
		require.True(t, again.Duplicate)
		require.Equal(t, command.ByCommandID, again.DuplicateBy)
		require.Equal(t, first.Revision, again.Revision)
		require.Equal(t, first.Events[0].ID, again.Events[0].ID)
		require.Equal(t, first.Events[0].Data, again.Events[0].Data)
		require.Len(t, streamEvents(t, store, "account-a1"), 1)

		st, rev, err := loadAcc(h, ctx, "a1")
		require.NoError(t, err)
		require.Equal(t, 10, st.Balance)
		require.Equal(t, uint64(0), rev)
		s := h.Stats()
		require.Equal(t, uint64(2), s.Handled)
		require.Equal(t, uint64(1), s.Applied)
		require.Equal(t, uint64(1), s.DuplicatesByID)
	})
}

// raceSameCommand has 64 goroutines, spread over handlers, handle one command at
// once, and checks that the stream holds its events once and every caller got the
// same result. It returns how many callers were told they applied it.
func raceSameCommand(t *testing.T, store eventstore.Store, handlers []accountHandler, agg string) int {
	ctx := t.Context()
	c := cmd{ID: "same-" + agg, AggregateID: agg, Payload: Deposit{Amount: 5, Ref: "r"}}
	const n = 64
	results := make([]command.Result, n)
	errs := make([]error, n)
	var start sync.WaitGroup
	start.Add(1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			start.Wait()
			results[i], errs[i] = handlers[i%len(handlers)].Handle(ctx, c)
		})
	}
	start.Done()
	wg.Wait()
	fresh := 0
	for i := range n {
		require.NoError(t, errs[i])
		if !results[i].Duplicate {
			fresh++
		} else {
			require.Equal(t, command.ByCommandID, results[i].DuplicateBy)
		}
		require.Equal(t, results[0].Revision, results[i].Revision)
		require.Len(t, results[i].Events, 1)
		require.Equal(t, results[0].Events[0].ID, results[i].Events[0].ID)
		require.Equal(t, results[0].Events[0].Revision, results[i].Events[0].Revision)
		require.Equal(t, results[0].Events[0].Data, results[i].Events[0].Data)
	}
	deposits := 0
	for _, ev := range streamEvents(t, store, "account-"+agg) {
		if ev.Type == "account.Deposited" {
			deposits++
		}
	}
	require.Equal(t, 1, deposits, "the stream holds one set of events")
	require.GreaterOrEqual(t, fresh, 1)
	return fresh
}

func TestSameCommandFromManyGoroutines(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		for _, cache := range []int{0, 8} {
			h := newHandler(t, store, append(fastRetries(), command.WithCache(cache))...)
			for _, agg := range []string{"new", "existing"} {
				agg := fmt.Sprintf("%s-%d", agg, cache)
				if agg[0] == 'e' { // the race is on Exact(n); on NoStream for "new"
					_, err := h.Handle(t.Context(), cmd{ID: "open", AggregateID: agg, Payload: Open{Owner: "x"}})
					require.NoError(t, err)
				}
				before := h.Stats()
				fresh := raceSameCommand(t, store, []accountHandler{h}, agg)
				require.Equal(t, 1, fresh, "all but one caller get Duplicate: true")
				require.Equal(t, before.DuplicatesByID+63, h.Stats().DuplicatesByID)
				require.Equal(t, before.Applied+1, h.Stats().Applied)
			}
		}
	})
}

// TestSameCommandFromManyConsumers is G4 across consumers: four handlers (as four
// processes would have) race on one command. Exactly one append writes; a loser
// either sees the conflict, reloads and finds the command, or has its identical
// append recognised by the store as a replay (G2): either way it answers Duplicate,
// and exactly one caller is told it applied the command.
func TestSameCommandFromManyConsumers(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		var handlers []accountHandler
		for i := range 4 {
			handlers = append(handlers, newHandler(t, store,
				append(fastRetries(), command.WithCache(i%2*8))...))
		}
		_, err := handlers[0].Handle(t.Context(), cmd{ID: "open", AggregateID: "existing", Payload: Open{Owner: "x"}})
		require.NoError(t, err)
		for _, agg := range []string{"new", "existing"} {
			fresh := raceSameCommand(t, store, handlers, agg)
			require.Equal(t, 1, fresh)
		}
	})
}

func TestDifferentCommandsOnOneAggregate(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		h1 := newHandler(t, store, append(fastRetries(), command.WithCache(4))...)
		h2 := newHandler(t, store, fastRetries()...)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			h := h1
			if i%2 == 1 {
				h = h2
			}
			wg.Go(func() {
				_, errs[i] = h.Handle(ctx, cmd{ID: fmt.Sprintf("dep-%d", i), AggregateID: "shared",
					Payload: Deposit{Amount: i + 1, Ref: fmt.Sprint(i)}})
			})
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "command %d", i)
		}
		st, rev, err := loadAcc(h2, ctx, "shared")
		require.NoError(t, err)
		require.Equal(t, n*(n+1)/2, st.Balance, "every command applied")
		require.Equal(t, n, st.Count, "no command applied twice")
		require.Equal(t, uint64(n-1), rev)
		seen := map[string]bool{}
		for _, ev := range streamEvents(t, store, "account-shared") {
			m, err := command.DecodeMetadata(ev.Metadata)
			require.NoError(t, err)
			require.False(t, seen[m.CommandID], "command %s recorded twice", m.CommandID)
			seen[m.CommandID] = true
		}
		require.Len(t, seen, n)
		t.Logf("conflicts retried: %d + %d", h1.Stats().ConflictsRetried, h2.Stats().ConflictsRetried)
	})
}

func TestLostAcknowledgement(t *testing.T) {
	eachBackend(t, func(t *testing.T, inner eventstore.Store) {
		ctx := t.Context()
		store := &lostAckStore{Store: inner}
		h := newHandler(t, store, fastRetries()...)
		_, err := h.Handle(ctx, cmd{ID: "open", AggregateID: "a", Payload: Open{Owner: "o"}})
		require.NoError(t, err)

		store.lose.Store(1) // the next append commits, then reports a failure
		c := cmd{ID: "dep", AggregateID: "a", Payload: Deposit{Amount: 7}}
		res, err := h.Handle(ctx, c)
		require.NoError(t, err, "the handler's retry finds the command recorded")
		require.False(t, res.Duplicate, "the handler recognises its own write after an unknown outcome (G4)")
		require.Equal(t, uint64(1), res.Revision)
		require.Len(t, res.Events, 1)
		require.Equal(t, command.EventID("account-a", "dep", 0), res.Events[0].ID)
		require.Equal(t, int64(2), store.appended.Load(), "open and one deposit written, nothing more")

		// A later redelivery, by a fresh handler: the original result, nothing written.
		h2 := newHandler(t, store)
		again, err := h2.Handle(ctx, c)
		require.NoError(t, err)
		require.True(t, again.Duplicate)
		require.Equal(t, res.Revision, again.Revision)
		require.Equal(t, res.Events[0].ID, again.Events[0].ID)
		require.Len(t, streamEvents(t, inner, "account-a"), 2)
		st, _, err := loadAcc(h2, ctx, "a")
		require.NoError(t, err)
		require.Equal(t, 7, st.Balance)

		// With no retry budget the error surfaces, and the caller's own retry is the
		// redelivery: still one deposit.
		store.lose.Store(1)
		h3 := newHandler(t, store, command.WithRetries(0))
		c2 := cmd{ID: "dep2", AggregateID: "a", Payload: Deposit{Amount: 1}}
		_, err = h3.Handle(ctx, c2)
		require.ErrorIs(t, err, command.ErrRetriesExhausted)
		require.ErrorIs(t, err, eventstore.ErrUnavailable)
		res2, err := h3.Handle(ctx, c2)
		require.NoError(t, err)
		require.True(t, res2.Duplicate)
		require.Len(t, streamEvents(t, inner, "account-a"), 3)
	})
}

func TestKeyReuseWithChangedPayload(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		for _, cache := range []int{0, 4} {
			h := newHandler(t, store, command.WithCache(cache))
			agg := fmt.Sprintf("k%d", cache)
			first, err := h.Handle(ctx, cmd{ID: "same-key", AggregateID: agg, Payload: Deposit{Amount: 10}})
			require.NoError(t, err)
			_, err = h.Handle(ctx, cmd{ID: "same-key", AggregateID: agg, Payload: Deposit{Amount: 11}})
			require.ErrorIs(t, err, command.ErrIdempotencyKeyReused)
			var reused *command.IdempotencyKeyReusedError
			require.ErrorAs(t, err, &reused)
			require.Equal(t, first.Fingerprint, reused.Recorded)
			want, err := command.Fingerprint(accountCodec(t), AccountCommand(Deposit{Amount: 11}))
			require.NoError(t, err)
			require.Equal(t, want, reused.Received)
			require.NotEqual(t, reused.Recorded, reused.Received)
			require.Len(t, streamEvents(t, store, "account-"+agg), 1, "nothing written")
			require.Equal(t, uint64(1), h.Stats().KeyReused)
		}
	})
}

// invoices: one invoice per shipment reference, the stream keyed by the reference.
type IssueInvoice struct {
	Shipment string
	Amount   int
}
type InvoiceIssued struct {
	Shipment string
	Amount   int
}
type Invoice struct{ Issued bool }

func invoiceDecider() aggregate.Decider[Invoice, IssueInvoice, InvoiceIssued] {
	return aggregate.Decider[Invoice, IssueInvoice, InvoiceIssued]{
		Category: "invoice",
		Initial:  func() Invoice { return Invoice{} },
		Evolve:   func(s Invoice, _ InvoiceIssued) Invoice { s.Issued = true; return s },
		Decide: func(s Invoice, c IssueInvoice) ([]InvoiceIssued, error) {
			if s.Issued {
				return nil, aggregate.AlreadyDone("shipment " + c.Shipment)
			}
			return []InvoiceIssued{InvoiceIssued(c)}, nil
		},
	}
}

func TestKeyedIdentityOneInvoicePerShipment(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		codec, err := aggregate.NewCodec[IssueInvoice, InvoiceIssued](aggregate.Command[IssueInvoice]("invoice.Issue"),
			aggregate.Event[InvoiceIssued]("invoice.Issued"))
		require.NoError(t, err)
		h, err := command.NewHandler(store, invoiceDecider(), codec, fastRetries()...)
		require.NoError(t, err)
		id := aggregate.KeyedID("invoice", "SH-1")
		// Two producers, two command ids, one shipment: racing.
		var wg sync.WaitGroup
		results := make([]command.Result, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				results[i], errs[i] = h.Handle(ctx, command.Command[IssueInvoice]{ID: fmt.Sprintf("producer-%d", i), AggregateID: id,
					Payload: IssueInvoice{Shipment: "SH-1", Amount: 100 + i}})
			})
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		require.NotEqual(t, results[0].Duplicate, results[1].Duplicate, "one issued, one a duplicate")
		for _, r := range results {
			require.Equal(t, "invoice-"+id, r.Stream)
			if r.Duplicate {
				require.Equal(t, command.ByBusinessKey, r.DuplicateBy)
				require.Equal(t, "shipment SH-1", r.Key)
				require.Empty(t, r.Events)
			}
		}
		require.Len(t, streamEvents(t, store, "invoice-"+id), 1, "no second invoice")
		require.Equal(t, uint64(1), h.Stats().DuplicatesByKey)
	})
}

func TestConflictsExhaustTheBudget(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		h := newHandler(t, conflictStore{store},
			command.WithRetries(3), command.WithBackoff(0, 0))
		_, err := h.Handle(t.Context(), cmd{ID: "c", AggregateID: "a", Payload: Deposit{Amount: 1}})
		require.ErrorIs(t, err, command.ErrRetriesExhausted)
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedRevision)
		var ex *command.RetriesExhaustedError
		require.ErrorAs(t, err, &ex)
		require.Equal(t, 4, ex.Attempts)
		s := h.Stats()
		require.Equal(t, uint64(3), s.ConflictsRetried)
		require.Equal(t, uint64(1), s.RetriesExhausted)
	})
}

func TestRejectionsAndNoOps(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		t.Run("default writes nothing and decides a retry afresh", func(t *testing.T) {
			h := newHandler(t, store)
			w := cmd{ID: "w1", AggregateID: "r1", Payload: Withdraw{Amount: 5}}
			_, err := h.Handle(ctx, w)
			require.ErrorIs(t, err, command.ErrRejected)
			require.ErrorIs(t, err, errInsufficient, "the domain error is reachable")
			require.Nil(t, streamEvents(t, store, "account-r1"))
			res, err := h.Handle(ctx, cmd{ID: "noop", AggregateID: "r1", Payload: Touch{}})
			require.NoError(t, err)
			require.True(t, res.NoOp)
			require.Nil(t, streamEvents(t, store, "account-r1"))

			_, err = h.Handle(ctx, cmd{ID: "d1", AggregateID: "r1", Payload: Deposit{Amount: 10}})
			require.NoError(t, err)
			res, err = h.Handle(ctx, w) // decided afresh: now it succeeds
			require.NoError(t, err)
			require.False(t, res.Duplicate)
			s := h.Stats()
			require.Equal(t, uint64(1), s.Rejected)
			require.Equal(t, uint64(1), s.NoOps)
		})
		t.Run("recorded rejections answer the retry the same way", func(t *testing.T) {
			h := newHandler(t, store, command.WithRecordedRejections(), command.WithRecordedNoOps())
			w := cmd{ID: "w1", AggregateID: "r2", Payload: Withdraw{Amount: 5}}
			_, err := h.Handle(ctx, w)
			require.ErrorIs(t, err, errInsufficient)
			var rej *command.RejectedError
			require.ErrorAs(t, err, &rej)
			require.True(t, rej.Recorded)
			evs := streamEvents(t, store, "account-r2")
			require.Len(t, evs, 1)
			require.Equal(t, command.RejectedEventType, evs[0].Type)

			_, err = h.Handle(ctx, cmd{ID: "d1", AggregateID: "r2", Payload: Deposit{Amount: 10}})
			require.NoError(t, err)
			_, err = h.Handle(ctx, w) // the state would allow it now; the answer stays
			require.ErrorIs(t, err, command.ErrRejected)
			require.ErrorAs(t, err, &rej)
			require.True(t, rej.Duplicate)
			require.Contains(t, rej.Error(), errInsufficient.Error())

			n := cmd{ID: "n1", AggregateID: "r2", Payload: Touch{}}
			res, err := h.Handle(ctx, n)
			require.NoError(t, err)
			require.True(t, res.NoOp)
			res, err = h.Handle(ctx, n)
			require.NoError(t, err)
			require.True(t, res.NoOp)
			require.True(t, res.Duplicate)
			require.Len(t, streamEvents(t, store, "account-r2"), 3, "rejection marker, deposit, no-op marker")

			st, _, err := loadAcc(h, ctx, "r2")
			require.NoError(t, err)
			require.Equal(t, 10, st.Balance, "markers are not evolved")
		})
	})
}

func TestBadInputWritesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		bad := accountDecider()
		bad.Decide = func(Account, AccountCommand) ([]AccountEvent, error) { return []AccountEvent{strayEvent{}}, nil }
		good := newHandler(t, store)
		badEvents := mustHandler(t, store, bad)
		cancelled, cancel := context.WithCancel(t.Context())
		cancel()
		var nilDeposit *Deposit
		cases := []struct {
			name string
			h    accountHandler
			ctx  context.Context
			c    cmd
			want []error
		}{
			{"empty id", good, t.Context(), cmd{AggregateID: "x", Payload: Deposit{Amount: 1}}, []error{command.ErrInvalidCommand, command.ErrEmptyCommandID}},
			{"oversize id", good, t.Context(), cmd{ID: string(make([]byte, 300)), AggregateID: "x", Payload: Deposit{Amount: 1}}, []error{command.ErrInvalidCommand, command.ErrCommandIDTooLong}},
			{"nil payload", good, t.Context(), cmd{ID: "c", AggregateID: "x"}, []error{command.ErrInvalidCommand, command.ErrNilPayload}},
			{"nil pointer payload", good, t.Context(), cmd{ID: "c", AggregateID: "x", Payload: nilDeposit}, []error{command.ErrNilPayload}},
			{"empty aggregate id", good, t.Context(), cmd{ID: "c", Payload: Deposit{Amount: 1}}, []error{command.ErrInvalidCommand, aggregate.ErrInvalidAggregateID}},
			{"aggregate id with space", good, t.Context(), cmd{ID: "c", AggregateID: "x y", Payload: Deposit{Amount: 1}}, []error{aggregate.ErrInvalidAggregateID}},
			{"unregistered payload", good, t.Context(), cmd{ID: "c", AggregateID: "x", Payload: unregistered{}}, []error{command.ErrInvalidCommand, aggregate.ErrUnregisteredType}},
			{"unregistered event", badEvents, t.Context(), cmd{ID: "c", AggregateID: "x", Payload: Deposit{Amount: 1}}, []error{aggregate.ErrUnregisteredType}},
			{"cancelled context", good, cancelled, cmd{ID: "c", AggregateID: "x", Payload: Deposit{Amount: 1}}, []error{context.Canceled}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := tc.h.Handle(tc.ctx, tc.c)
				require.Error(t, err)
				for _, w := range tc.want {
					require.ErrorIs(t, err, w)
				}
				require.Nil(t, streamEvents(t, store, "account-x"), "nothing written")
			})
		}
	})
}

// TestInvalidHandler: a misconfiguration fails NewHandler, not the first command.
func TestInvalidHandler(t *testing.T) {
	store := backends()[0].open(t)
	codec := accountCodec(t)
	d := accountDecider()
	d.Category = "bad-category"
	noDecide := accountDecider()
	noDecide.Decide = nil
	for name, opts := range map[string]struct {
		store eventstore.Store
		d     accountDecider_
		codec *aggregate.Codec[AccountCommand, AccountEvent]
		opts  []command.Option
	}{
		"category":          {store, d, codec, nil},
		"no Decide":         {store, noDecide, codec, nil},
		"nil codec":         {store, accountDecider(), nil, nil},
		"nil store":         {nil, accountDecider(), codec, nil},
		"negative retries":  {store, accountDecider(), codec, []command.Option{command.WithRetries(-1)}},
		"backoff swapped":   {store, accountDecider(), codec, []command.Option{command.WithBackoff(time.Second, time.Millisecond)}},
		"nil snapshots":     {store, accountDecider(), codec, []command.Option{command.WithSnapshots(nil)}},
		"zero snapshots":    {store, accountDecider(), codec, []command.Option{command.WithSnapshotEvery(0)}},
		"zero window":       {store, accountDecider(), codec, []command.Option{command.WithDedupeWindow(0)}},
		"negative age":      {store, accountDecider(), codec, []command.Option{command.WithDedupeMaxAge(-time.Second)}},
		"nil logger":        {store, accountDecider(), codec, []command.Option{command.WithLogger(nil)}},
		"nil clock":         {store, accountDecider(), codec, []command.Option{command.WithClock(nil)}},
		"zero append limit": {store, accountDecider(), codec, []command.Option{command.WithMaxAppendSize(0)}},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := command.NewHandler(opts.store, opts.d, opts.codec, opts.opts...)
			require.ErrorIs(t, err, command.ErrInvalidHandler)
			require.Nil(t, h)
		})
	}
}

func TestDecidePanicIsAnError(t *testing.T) {
	store := backends()[0].open(t)
	d := accountDecider()
	d.Decide = func(Account, AccountCommand) ([]AccountEvent, error) { panic("boom") }
	h := mustHandler(t, store, d)
	_, err := h.Handle(t.Context(), cmd{ID: "c", AggregateID: "a", Payload: Deposit{Amount: 1}})
	require.Error(t, err)
	require.False(t, errors.Is(err, command.ErrRejected))
	require.Contains(t, err.Error(), "boom")
}
