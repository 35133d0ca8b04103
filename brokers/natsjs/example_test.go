package natsjs_test

import (
	"fmt"

	"github.com/idemkit/idem/brokers/natsjs"
)

// Every message of one key goes to one subject partition, so one aggregate's
// commands keep their order.
func ExamplePartition() {
	for _, key := range []string{"pay-000001", "pay-000002", "pay-000001"} {
		fmt.Println(key, "->", natsjs.Subject("payments", natsjs.Partition(key, 8)))
	}
	// Output:
	// pay-000001 -> payments.7
	// pay-000002 -> payments.2
	// pay-000001 -> payments.7
}
