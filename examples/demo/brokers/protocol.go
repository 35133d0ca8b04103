package main

import (
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/examples/demo/internal/demo"
)

// A broker worker receives its messages from the broker and acknowledges them
// there; it tells the parent, on its standard output, what each delivery came
// to (before the acknowledgement, so a kill never loses a report) and its
// handlers' counters. Its standard input ending tells it to stop.

// brokerEnv holds the broker settings of a worker process, as JSON.
const brokerEnv = "IDEM_DEMO_BROKER"

// Message headers of the demo, besides idem's.
const (
	// headerDelivery is the id of one publication, so the parent knows when each
	// was handled; headerSeq is the message's index in the workload.
	headerDelivery = "Demo-Delivery"
	headerSeq      = "Demo-Seq"
)

// reasonRetryLater dead-letters a command refused for now (a capture before
// its authorization): the parent redrives it from the dead-letter topic later,
// as a retry topic does.
const reasonRetryLater = "retry-later"

// settings are what a worker is told about the broker.
type settings struct {
	Broker     string   `json:"broker"` // "kafka" or "nats"
	Addrs      []string `json:"addrs"`
	Partitions int      `json:"partitions"`
}

// report is a line from a worker: one handled delivery, or counters.
type report struct {
	Delivery uint64         `json:"d,omitempty"`
	Seq      int            `json:"s,omitempty"`
	Handled  *demo.Handled  `json:"h,omitempty"`
	Stats    *command.Stats `json:"stats,omitempty"`
}
