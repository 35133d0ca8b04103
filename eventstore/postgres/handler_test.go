package postgres_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// The command handler's dedupe guarantees (G2, G3, G4, G5) on PostgreSQL, through
// the public command API: the scenarios of command's own tests, on a real server.

// --- an account domain: deposits ---------------------------------------------------

type (
	accountCommand interface{ isAccountCommand() }
	accountEvent   interface{ isAccountEvent() }
)

type (
	openAccount struct{ Owner string }
	deposit     struct {
		Amount int
		Ref    string
	}
	opened    struct{ Owner string }
	deposited struct {
		Amount int
		Ref    string
	}
)

func (openAccount) isAccountCommand() {}
func (deposit) isAccountCommand()     {}
func (opened) isAccountEvent()        {}
func (deposited) isAccountEvent()     {}

type account struct {
	Open    bool
	Balance int
	Count   int
}

type (
	accountHandler = *command.Handler[account, accountCommand, accountEvent]
	accountCmd     = command.Command[accountCommand]
)

func accountDecider() aggregate.Decider[account, accountCommand, accountEvent] {
	return aggregate.Decider[account, accountCommand, accountEvent]{
		Category: "account",
		Initial:  func() account { return account{} },
		Evolve: func(s account, e accountEvent) account {
			switch e := e.(type) {
			case opened:
				s.Open = true
			case deposited:
				s.Balance += e.Amount
				s.Count++
			}
			return s
		},
		Decide: func(s account, c accountCommand) ([]accountEvent, error) {
			switch c := c.(type) {
			case openAccount:
				if s.Open {
					return nil, aggregate.AlreadyDone("account")
				}
				return []accountEvent{opened(c)}, nil
			case deposit:
				if c.Amount <= 0 {
					return nil, errors.New("amount must be positive")
				}
				return []accountEvent{deposited(c)}, nil
			}
			return nil, fmt.Errorf("unknown command %T", c)
		},
	}
}

func newAccountHandler(t testing.TB, store eventstore.Store, opts ...command.Option) accountHandler {
	t.Helper()
	codec, err := aggregate.NewCodec[accountCommand, accountEvent](
		aggregate.Command[openAccount]("account.Open"),
		aggregate.Command[deposit]("account.Deposit"),
		aggregate.Event[opened]("account.Opened"),
		aggregate.Event[deposited]("account.Deposited"),
	)
	require.NoError(t, err)
	h, err := command.NewHandler(store, accountDecider(), codec, opts...)
	require.NoError(t, err)
	return h
}

func fastRetries() []command.Option {
	return []command.Option{command.WithRetries(64), command.WithBackoff(50*time.Microsecond, 2*time.Millisecond)}
}

// streamEvents reads a whole stream (nil when it does not exist).
func streamEvents(t testing.TB, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range s.ReadStream(t.Context(), stream, 0) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

// --- G3: dedupe in the stream ---------------------------------------------------------

func TestHandleAppliesAndRedeliveryIsDuplicate(t *testing.T) {
	store := pgtest.Open(t)
	ctx := t.Context()
	h := newAccountHandler(t, store)
	c := accountCmd{ID: "cmd-1", AggregateID: "a1", Payload: deposit{Amount: 10, Ref: "r1"}, CorrelationID: "corr"}
	first, err := h.Handle(ctx, c)
	require.NoError(t, err)
	require.False(t, first.Duplicate)
	require.Equal(t, uint64(0), first.Revision)
	m, err := command.DecodeMetadata(first.Events[0].Metadata)
	require.NoError(t, err)
	require.Equal(t, "cmd-1", m.CommandID)
	require.Equal(t, command.EventID("account-a1", "cmd-1", 0), first.Events[0].ID)

	// Redelivered to this handler and to a fresh one (another replica).
	for _, handler := range []accountHandler{h, newAccountHandler(t, store)} {
		again, err := handler.Handle(ctx, c)
		require.NoError(t, err)
		require.True(t, again.Duplicate)
		require.Equal(t, command.ByCommandID, again.DuplicateBy)
		require.Equal(t, first.Revision, again.Revision)
		require.Equal(t, first.Events[0].ID, again.Events[0].ID)
	}
	require.Len(t, streamEvents(t, store, "account-a1"), 1, "written once")
}

func TestKeyReuseWithChangedPayload(t *testing.T) {
	store := pgtest.Open(t)
	ctx := t.Context()
	h := newAccountHandler(t, store)
	_, err := h.Handle(ctx, accountCmd{ID: "same-key", AggregateID: "k", Payload: deposit{Amount: 10}})
	require.NoError(t, err)
	_, err = h.Handle(ctx, accountCmd{ID: "same-key", AggregateID: "k", Payload: deposit{Amount: 11}})
	require.ErrorIs(t, err, command.ErrIdempotencyKeyReused)
	require.Len(t, streamEvents(t, store, "account-k"), 1, "nothing written")
}

// --- G4: concurrent duplicates ----------------------------------------------------------

// TestSameCommandFromManyConsumers: four handlers (as four replicas would have),
// 64 goroutines, one command: exactly one caller is told it applied it, every
// other gets the original result as a duplicate, the stream holds it once. On a
// new aggregate (the race is on NoStream) and an existing one (on Exact).
func TestSameCommandFromManyConsumers(t *testing.T) {
	store := pgtest.Open(t)
	ctx := t.Context()
	var handlers []accountHandler
	for i := range 4 {
		handlers = append(handlers, newAccountHandler(t, store, append(fastRetries(), command.WithCache(i%2*8))...))
	}
	_, err := handlers[0].Handle(ctx, accountCmd{ID: "open", AggregateID: "existing", Payload: openAccount{Owner: "x"}})
	require.NoError(t, err)
	for _, agg := range []string{"new", "existing"} {
		c := accountCmd{ID: "same-" + agg, AggregateID: agg, Payload: deposit{Amount: 5, Ref: "r"}}
		const n = 64
		results := make([]command.Result, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				results[i], errs[i] = handlers[i%len(handlers)].Handle(ctx, c)
			})
		}
		close(start)
		wg.Wait()
		fresh := 0
		for i := range n {
			require.NoError(t, errs[i])
			if !results[i].Duplicate {
				fresh++
			}
			require.Equal(t, results[0].Revision, results[i].Revision)
			require.Equal(t, results[0].Events[0].ID, results[i].Events[0].ID)
		}
		require.Equal(t, 1, fresh, "%s: exactly one caller applied the command", agg)
		deposits := 0
		for _, e := range streamEvents(t, store, "account-"+agg) {
			if e.Type == "account.Deposited" {
				deposits++
			}
		}
		require.Equal(t, 1, deposits, "%s: written once", agg)
	}
}

// --- G5: keyed identity ---------------------------------------------------------------

type (
	issueInvoice struct {
		Shipment string
		Amount   int
	}
	invoiceIssued struct {
		Shipment string
		Amount   int
	}
)

func TestKeyedIdentityOneInvoicePerShipment(t *testing.T) {
	store := pgtest.Open(t)
	ctx := t.Context()
	codec, err := aggregate.NewCodec[issueInvoice, invoiceIssued](aggregate.Command[issueInvoice]("invoice.Issue"),
		aggregate.Event[invoiceIssued]("invoice.Issued"))
	require.NoError(t, err)
	decider := aggregate.Decider[bool, issueInvoice, invoiceIssued]{
		Category: "invoice",
		Initial:  func() bool { return false },
		Evolve:   func(bool, invoiceIssued) bool { return true },
		Decide: func(issued bool, c issueInvoice) ([]invoiceIssued, error) {
			if issued {
				return nil, aggregate.AlreadyDone("shipment " + c.Shipment)
			}
			return []invoiceIssued{invoiceIssued(c)}, nil
		},
	}
	// Two replicas, two producers with their own command ids, one shipment.
	var handlers [2]*command.Handler[bool, issueInvoice, invoiceIssued]
	for i := range handlers {
		handlers[i], err = command.NewHandler(store, decider, codec, fastRetries()...)
		require.NoError(t, err)
	}
	id := aggregate.KeyedID("invoice", "SH-1")
	var wg sync.WaitGroup
	results := make([]command.Result, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			results[i], errs[i] = handlers[i].Handle(ctx, command.Command[issueInvoice]{ID: "producer-" + strconv.Itoa(i),
				AggregateID: id, Payload: issueInvoice{Shipment: "SH-1", Amount: 100 + i}})
		})
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.NotEqual(t, results[0].Duplicate, results[1].Duplicate, "one issued, one a duplicate")
	for _, r := range results {
		if r.Duplicate {
			require.Equal(t, command.ByBusinessKey, r.DuplicateBy)
		}
	}
	require.Len(t, streamEvents(t, store, "invoice-"+id), 1, "no second invoice")
}
