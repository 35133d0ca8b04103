package main

import (
	"fmt"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
)

// The benchmark domain in idem's terms: an account takes deposits. It is the same
// aggregate every peer implements, one event per command.

// deposit is the command.
type deposit struct {
	Amount    int    `json:"amount"`
	Reference string `json:"reference"`
}

// deposited is its event.
type deposited struct {
	Amount    int    `json:"amount"`
	Reference string `json:"reference"`
}

// account is the state.
type account struct {
	Balance int
}

// accountDecider is pure: no I/O, no clock, no ids. The domain has one command
// and one event, so the decider uses the types themselves.
var accountDecider = aggregate.Decider[account, deposit, deposited]{
	Category: "account",
	Initial:  func() account { return account{} },
	Evolve:   func(s account, e deposited) account { s.Balance += e.Amount; return s },
	Decide:   func(_ account, d deposit) ([]deposited, error) { return []deposited{deposited(d)}, nil },
}

// accountHandler is the command handler of the benchmark domain.
type accountHandler = command.Handler[account, deposit, deposited]

// newAccountCodec names the command and event types.
func newAccountCodec() (*aggregate.Codec[deposit, deposited], error) {
	return aggregate.NewCodec[deposit, deposited](aggregate.Command[deposit]("Deposit"), aggregate.Event[deposited]("Deposited"))
}

// accountID is the id of the i-th benchmark account (its stream is account-<id>).
func accountID(i int) string { return fmt.Sprintf("%06d", i) }
