package demo_test

import (
	"fmt"

	"github.com/idemkit/idem/examples/demo/internal/demo"
)

// The workload is a pure function of its seed: the same seed gives the same
// messages, the same planted misuse and the same expected outcome.
func ExampleGenerate() {
	wl := demo.Generate(42, 1000, 0.2, 0.01)
	fmt.Println("messages:", len(wl.Messages), "re-sent later with another payload:", len(wl.Late))
	fmt.Println("shipments:", wl.Shipments, "by two paths:", wl.ShipmentsTwoPaths)
	fmt.Println("payments:", wl.Payments, "over-refunds:", wl.OverRefunds)
	fmt.Println("invoices expected:", len(wl.Expected.Shipments))
	// Output:
	// messages: 1000 re-sent later with another payload: 5
	// shipments: 262 by two paths: 62
	// payments: 173 over-refunds: 5
	// invoices expected: 262
}
