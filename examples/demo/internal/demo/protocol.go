package demo

import "github.com/idemkit/idem/command"

// The parent and its worker processes speak JSON lines over the workers' standard
// input and output: the parent sends deliveries, a worker answers each with an
// ack once it is handled, and reports its handlers' counters now and then (with
// its metrics, when the run serves them). A worker killed with SIGKILL answers
// nothing more: the parent redelivers what it had not acknowledged.

// handoff is one delivery of a message to a worker.
type handoff struct {
	ID  uint64  `json:"d"`
	Msg Message `json:"m"`
}

// Outcomes a worker reports for a delivery.
const (
	outApplied   = "applied"   // the command's events were written by this delivery
	outDupID     = "dup-id"    // a duplicate recognised by its command id (G3, G4)
	outDupKey    = "dup-key"   // a duplicate recognised by its business key (G5)
	outNoOp      = "noop"      // decided no events
	outRejected  = "rejected"  // refused by the domain for good
	outKeyReused = "key-reuse" // command id reused with another payload (loud)
	outLater     = "later"     // refused for now (e.g. a capture before its authorization): redeliver later
	outRetry     = "retry"     // failed (conflicts exhausted, store busy): redeliver
)

// ack is a worker's answer to one delivery.
type ack struct {
	ID      uint64 `json:"d"`
	Outcome string `json:"o"`
	Err     string `json:"e,omitempty"`
	// Renumbered counts invoice numbers found taken by another invoice before one
	// was claimed (reservations at work).
	Renumbered int `json:"r,omitempty"`
}

// report is a line from a worker or the projector: an ack, a counter snapshot, or
// the projector's progress.
type report struct {
	Ack   *ack            `json:"ack,omitempty"`
	Stats *command.Stats  `json:"stats,omitempty"`
	Proj  *projectorState `json:"proj,omitempty"`
	// Metrics, when the run serves metrics, are the process's metrics as
	// collected with the counters of the same line (Stats or Proj), which they
	// agree with (metrics_child.go).
	Metrics *metricsSnapshot `json:"metrics,omitempty"`
}

// projectorState is the projector's progress: the position its projections and
// reactor have reached.
type projectorState struct {
	Position string `json:"pos"`
	Applied  uint64 `json:"applied"`
	Lag      uint64 `json:"lag"`
	CaughtUp bool   `json:"caught_up"`
}
