package brokers_test

import (
	"errors"
	"fmt"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// Classify sorts a handler's errors: permanent refusals get a reason and are
// dead-lettered, anything else is an unknown outcome, retried and never
// acknowledged.
func ExampleClassify() {
	for _, err := range []error{
		&command.RejectedError{CommandID: "c-1", Err: errors.New("not authorized")},
		&command.IdempotencyKeyReusedError{CommandID: "c-1"},
		fmt.Errorf("append: %w", eventstore.ErrUnavailable),
	} {
		if r := brokers.Classify(err); r != "" {
			fmt.Println("dead-letter:", r)
		} else {
			fmt.Println("retry, do not acknowledge")
		}
	}
	// Output:
	// dead-letter: rejected
	// dead-letter: key-reused
	// retry, do not acknowledge
}
