package delivery

import "fmt"

// Report is what Run delivered, how often.
type Report struct {
	// Messages is the number of messages given to Run.
	Messages int
	// Delivered counts handler calls (every copy, every retry, both sides of a race).
	Delivered int
	// Unique counts messages delivered at least once.
	Unique int
	// Redelivered is Delivered - Unique: the deliveries a once-only channel would
	// not have made.
	Redelivered int
	// Counts[i] is how many times message i was delivered.
	Counts []int
	// MaxCopies is the largest entry of Counts.
	MaxCopies int
	// Deliveries by kind: first copies, duplicates, replays, retries after an error.
	// A racing delivery counts twice, under its kind.
	Originals, Duplicates, Replays, Retries int
	// Races counts deliveries handed to two consumers at the same instant.
	Races int
	// HandlerErrors counts handler calls that returned an error.
	HandlerErrors int
	// Failed lists the messages no handler call succeeded for (given up after
	// Plan.MaxAttempts failures, or not reached before ctx ended).
	Failed []int
	// Err is ctx's error if Run was cut short.
	Err error
}

// Complete reports whether every message was handled successfully at least once
// and Run was not cut short.
func (r Report) Complete() bool { return r.Err == nil && len(r.Failed) == 0 }

// String summarises the report in one line.
func (r Report) String() string {
	s := fmt.Sprintf("%d deliveries of %d messages (%d unique, %d redelivered: %d duplicates, %d replays, %d retries; %d races; max %d copies of one message), %d handler errors, %d failed",
		r.Delivered, r.Messages, r.Unique, r.Redelivered, r.Duplicates, r.Replays, r.Retries, r.Races, r.MaxCopies, r.HandlerErrors, len(r.Failed))
	if r.Err != nil {
		s += fmt.Sprintf(", cut short: %v", r.Err)
	}
	return s
}
