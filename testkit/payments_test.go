package testkit_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/idemkit/idem/aggregate"
)

// A small payments domain for the testkit's own tests.

type (
	Command interface{ isCommand() }
	Event   interface{ isEvent() }
)

type Authorize struct {
	Amount int `json:"amount"`
}

type Authorized struct {
	Amount int `json:"amount"`
}

type Capture struct {
	Reference string `json:"reference"`
	Amount    int    `json:"amount"`
}

type Captured struct {
	Reference string `json:"reference"`
	Amount    int    `json:"amount"`
}

func (Authorize) isCommand() {}
func (Capture) isCommand()   {}
func (Authorized) isEvent()  {}
func (Captured) isEvent()    {}

type payment struct {
	Authorized int
	Captured   int
	References map[string]bool
}

var (
	ErrNotAuthorized = errors.New("payment not authorized")
	ErrOverCapture   = errors.New("capture exceeds the authorized amount")
)

func evolve(s payment, e Event) payment {
	next := payment{Authorized: s.Authorized, Captured: s.Captured, References: map[string]bool{}}
	for k := range s.References {
		next.References[k] = true
	}
	switch e := e.(type) {
	case Authorized:
		next.Authorized += e.Amount
	case Captured:
		next.Captured += e.Amount
		next.References[e.Reference] = true
	}
	return next
}

func decide(s payment, c Command) ([]Event, error) {
	switch c := c.(type) {
	case Authorize:
		return []Event{Authorized{Amount: c.Amount}}, nil
	case Capture:
		switch {
		case s.References[c.Reference]:
			return nil, aggregate.AlreadyDone("capture " + c.Reference)
		case s.Authorized == 0:
			return nil, ErrNotAuthorized
		case s.Captured+c.Amount > s.Authorized:
			return nil, ErrOverCapture
		}
		return []Event{Captured{Reference: c.Reference, Amount: c.Amount}}, nil
	}
	return nil, fmt.Errorf("unknown command %T", c)
}

// paymentDecider returns the correct decider, or one whose Decide is replaced.
func paymentDecider(decideFn func(payment, Command) ([]Event, error)) aggregate.Decider[payment, Command, Event] {
	if decideFn == nil {
		decideFn = decide
	}
	return aggregate.Decider[payment, Command, Event]{
		Category: "payment",
		Initial:  func() payment { return payment{References: map[string]bool{}} },
		Evolve:   evolve,
		Decide:   decideFn,
	}
}

func paymentCodec(extra ...aggregate.CodecOption) *aggregate.Codec[Command, Event] {
	c, err := aggregate.NewCodec[Command, Event](append([]aggregate.CodecOption{
		aggregate.Command[Authorize]("payment.Authorize"),
		aggregate.Event[Authorized]("payment.Authorized"),
		aggregate.Command[Capture]("payment.Capture"),
		aggregate.Event[Captured]("payment.Captured"),
	}, extra...)...)
	if err != nil {
		panic(err)
	}
	return c
}

// recordingT is a testkit.T that records failures instead of failing the test,
// so the testkit's own tests can assert that a scenario failed and how.
type recordingT struct {
	name     string
	errors   []string
	cleanups []func()
}

func (r *recordingT) Helper()          {}
func (r *recordingT) Name() string     { return r.name }
func (r *recordingT) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recordingT) Errorf(format string, a ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
}

// finish runs the cleanups, last registered first, as testing does.
func (r *recordingT) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

func (r *recordingT) failed() bool { return len(r.errors) > 0 }

func (r *recordingT) message() string { return strings.Join(r.errors, "\n") }
