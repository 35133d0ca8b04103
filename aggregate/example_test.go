package aggregate_test

import (
	"fmt"

	"github.com/idemkit/idem/aggregate"
)

type Capture struct {
	Reference string
	Amount    int
}
type CapturedPayment struct {
	Reference string
	Amount    int
}
type Payment struct{ Captured map[string]bool }

// A decider is three pure functions; the codec names every event and command type
// explicitly.
func Example() {
	decider := aggregate.Decider[Payment]{
		Category: "payment",
		Initial:  func() Payment { return Payment{} },
		Evolve: func(s Payment, e any) Payment {
			if c, ok := e.(CapturedPayment); ok {
				next := map[string]bool{c.Reference: true}
				for k := range s.Captured {
					next[k] = true
				}
				s.Captured = next // a new map: Evolve never changes its input
			}
			return s
		},
		Decide: func(s Payment, c any) ([]any, error) {
			capture := c.(Capture)
			if s.Captured[capture.Reference] {
				return nil, aggregate.AlreadyDone("capture " + capture.Reference)
			}
			return []any{CapturedPayment(capture)}, nil
		},
	}
	codec := aggregate.NewCodec()
	_ = aggregate.Register[Capture](codec, "payment.Capture")
	_ = aggregate.Register[CapturedPayment](codec, "payment.Captured")

	state := decider.Initial()
	events, _ := decider.Decide(state, Capture{Reference: "cap-1", Amount: 100})
	for _, e := range events {
		name, data, _ := codec.Encode(e)
		fmt.Println(name, string(data))
		state = decider.Evolve(state, e)
	}
	_, err := decider.Decide(state, Capture{Reference: "cap-1", Amount: 100})
	fmt.Println(err)

	stream, _ := aggregate.StreamName(decider.Category, aggregate.KeyedID("payment", "order-7"))
	fmt.Println(stream)
	// Output:
	// payment.Captured {"Reference":"cap-1","Amount":100}
	// already done: business key "capture cap-1"
	// payment-c185695c-ddc1-553a-9233-af39c7eaff15
}
