package postgres_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
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

// --- G4: concurrent duplicates ----------------------------------------------------------

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
