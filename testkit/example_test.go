package testkit_test

import (
	"fmt"

	"github.com/idemkit/idem/testkit"
)

// printT stands in for the *testing.T a real test passes: it prints failures.
type printT struct{ cleanups []func() }

func (p *printT) Helper()                           {}
func (p *printT) Name() string                      { return "Example" }
func (p *printT) Cleanup(f func())                  { p.cleanups = append(p.cleanups, f) }
func (p *printT) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (p *printT) done() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
}

// In a test, pass t. Each Then also re-delivers its command and checks that the
// redelivery is a duplicate that writes nothing; each event is round-tripped
// through the codec.
func ExampleAggregate() {
	t := &printT{} // in a test: func TestCapture(t *testing.T)
	defer t.done()

	testkit.Aggregate(t, paymentDecider(nil), paymentCodec()).
		Given(Authorized{Amount: 100}).
		When(Capture{Reference: "cap-1", Amount: 60}).
		Then(Captured{Reference: "cap-1", Amount: 60}).
		When(Capture{Reference: "cap-2", Amount: 50}).
		ThenError(ErrOverCapture)
	fmt.Println("passed")
	// Output:
	// passed
}

// What a failing scenario reports: the step, the expected and actual events, and
// testify's diff.
func ExampleScenario_Then_failure() {
	t := &printT{}
	defer t.done()

	buggy := func(s payment, c Command) ([]Event, error) {
		events, err := decide(s, c)
		if cap, ok := c.(Capture); ok && err == nil {
			events = []Event{Captured{Reference: cap.Reference, Amount: cap.Amount / 2}}
		}
		return events, err
	}
	testkit.Aggregate(t, paymentDecider(buggy), paymentCodec()).
		Given(Authorized{Amount: 100}).
		When(Capture{Reference: "cap-1", Amount: 60}).
		Then(Captured{Reference: "cap-1", Amount: 60})
	// Output:
	// testkit: step 2: When(testkit_test.Capture{Reference:"cap-1", Amount:60}): Then: wrong events
	//   expected: 1 event
	//     [0] testkit_test.Captured{Reference:"cap-1", Amount:60}
	//   actual: 1 event
	//     [0] testkit_test.Captured{Reference:"cap-1", Amount:30}
	//   diff:
	//     --- Expected
	//     +++ Actual
	//     @@ -3,3 +3,3 @@
	//        Reference: (string) (len=5) "cap-1",
	//     -  Amount: (int) 60
	//     +  Amount: (int) 30
	//       }
}
