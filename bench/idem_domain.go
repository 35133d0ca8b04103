package main

import (
	"fmt"

	"github.com/idemkit/idem/aggregate"
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

// accountDecider is pure: no I/O, no clock, no ids.
var accountDecider = aggregate.Decider[account]{
	Category: "account",
	Initial:  func() account { return account{} },
	Evolve: func(s account, e any) account {
		if d, ok := e.(deposited); ok {
			s.Balance += d.Amount
		}
		return s
	},
	Decide: func(_ account, c any) ([]any, error) {
		d, ok := c.(deposit)
		if !ok {
			return nil, fmt.Errorf("unknown command %T", c)
		}
		return []any{deposited(d)}, nil
	},
}

// newAccountCodec registers the command and event types.
func newAccountCodec() (*aggregate.Codec, error) {
	c := aggregate.NewCodec()
	if err := aggregate.Register[deposit](c, "Deposit"); err != nil {
		return nil, err
	}
	if err := aggregate.Register[deposited](c, "Deposited"); err != nil {
		return nil, err
	}
	return c, nil
}

// accountID is the id of the i-th benchmark account (its stream is account-<id>).
func accountID(i int) string { return fmt.Sprintf("%06d", i) }
