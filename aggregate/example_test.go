package aggregate_test

import (
	"fmt"

	"github.com/idemkit/idem/aggregate"
)

// The payment domain of the example: one sealed interface for its commands, one
// for its events.
type (
	PaymentCommand interface{ isPaymentCommand() }
	PaymentEvent   interface{ isPaymentEvent() }
)

type Capture struct {
	Reference string
	Amount    int
}
type PaymentCaptured struct {
	Reference string
	Amount    int
}
type Payment struct{ Captured map[string]bool }

func (Capture) isPaymentCommand()       {}
func (PaymentCaptured) isPaymentEvent() {}

// A decider is pure functions over the domain's own types: a command of another
// domain does not compile. The codec names every type explicitly.
func Example() {
	decider := aggregate.Decider[Payment, PaymentCommand, PaymentEvent]{
		Category: "payment",
		Initial:  func() Payment { return Payment{} },
		Evolve: func(s Payment, e PaymentEvent) Payment {
			if c, ok := e.(PaymentCaptured); ok {
				next := map[string]bool{c.Reference: true}
				for k := range s.Captured {
					next[k] = true
				}
				s.Captured = next // a new map: Evolve never changes its input
			}
			return s
		},
		Decide: func(s Payment, c PaymentCommand) ([]PaymentEvent, error) {
			switch c := c.(type) {
			case Capture:
				if s.Captured[c.Reference] {
					return nil, aggregate.AlreadyDone("capture " + c.Reference)
				}
				return []PaymentEvent{PaymentCaptured(c)}, nil
			}
			return nil, fmt.Errorf("unknown command %T", c)
		},
	}
	codec, err := aggregate.NewCodec[PaymentCommand, PaymentEvent](
		aggregate.Command[Capture]("payment.Capture"),
		aggregate.Event[PaymentCaptured]("payment.Captured"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	state := decider.Initial()
	events, _ := decider.Decide(state, Capture{Reference: "cap-1", Amount: 100})
	for _, e := range events {
		name, data, _ := codec.EncodeEvent(e)
		fmt.Println(name, string(data))
		state = decider.Evolve(state, e)
	}
	_, err = decider.Decide(state, Capture{Reference: "cap-1", Amount: 100})
	fmt.Println(err)

	stream, _ := aggregate.StreamName(decider.Category, aggregate.KeyedID("payment", "order-7"))
	fmt.Println(stream)
	// Output:
	// payment.Captured {"Reference":"cap-1","Amount":100}
	// already done: business key "capture cap-1"
	// payment-c185695c-ddc1-553a-9233-af39c7eaff15
}

// StoredCaptureV1 is how captures were stored before the amount was added and the
// reference renamed.
type StoredCaptureV1 struct {
	Ref string `json:"ref"`
}

// ExampleUpcast decodes an event stored by an older version of the code into
// today's type: the stored data is never rewritten.
func ExampleUpcast() {
	codec, err := aggregate.NewCodec[PaymentCommand, PaymentEvent](
		aggregate.Event[PaymentCaptured]("payment.Captured"),
		aggregate.Upcast("payment.Captured.v1", func(old StoredCaptureV1) PaymentCaptured {
			return PaymentCaptured{Reference: old.Ref} // the amount was not recorded then
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := codec.DecodeEvent("payment.Captured.v1", []byte(`{"ref":"cap-1"}`))
	fmt.Printf("%#v %v\n", e, err)
	// Output: aggregate_test.PaymentCaptured{Reference:"cap-1", Amount:0} <nil>
}
