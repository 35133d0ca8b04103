// Package brokertest holds what the broker packages' tests share: a ledger
// domain whose only dedupe is the command id (no business keys, so a command
// applied twice would show as two deposits), a workload of deposit commands, the
// check that each was applied exactly once, a downstream consumer that dedupes on
// the message id, and child processes to SIGKILL.
package brokertest

import (
	"errors"
	"fmt"

	"github.com/idemkit/idem/aggregate"
)

// Category is the ledger's stream category.
const Category = "ledger"

// Command is a ledger command; Event a ledger event.
type (
	Command interface{ ledgerCommand() }
	Event   interface{ ledgerEvent() }
)

// Deposit adds Amount to the ledger. Amount 0 is rejected (a permanent refusal);
// a negative Amount makes Decide panic (a bug).
type Deposit struct {
	Amount int64 `json:"amount"`
}

// Deposited records a deposit.
type Deposited struct {
	Amount int64 `json:"amount"`
}

func (Deposit) ledgerCommand() {}
func (Deposited) ledgerEvent() {}

// ErrZeroDeposit is the domain's rejection of a deposit of nothing.
var ErrZeroDeposit = errors.New("ledger: deposit of nothing")

// State is a ledger's balance.
type State struct{ Balance int64 }

// Decider is the ledger aggregate.
var Decider = aggregate.Decider[State, Command, Event]{
	Category: Category,
	Initial:  func() State { return State{} },
	Evolve: func(s State, e Event) State {
		if d, ok := e.(Deposited); ok {
			s.Balance += d.Amount
		}
		return s
	},
	Decide: func(_ State, c Command) ([]Event, error) {
		d, ok := c.(Deposit)
		switch {
		case !ok:
			return nil, fmt.Errorf("ledger: unknown command %T", c)
		case d.Amount < 0:
			panic("ledger: negative deposit")
		case d.Amount == 0:
			return nil, ErrZeroDeposit
		}
		return []Event{Deposited(d)}, nil
	},
}

// NewCodec returns the ledger's codec.
func NewCodec() (*aggregate.Codec[Command, Event], error) {
	return aggregate.NewCodec[Command, Event](
		aggregate.Event[Deposited]("ledger.Deposited"),
		aggregate.Command[Deposit]("ledger.Deposit"),
	)
}
