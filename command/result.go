package command

import "github.com/idemkit/idem/eventstore"

// DuplicateKind says how a duplicate was recognised.
type DuplicateKind string

const (
	// ByCommandID: the command id was in the aggregate's processed set (G3).
	ByCommandID DuplicateKind = "command id"
	// ByBusinessKey: the decider returned aggregate.AlreadyDone (G5).
	ByBusinessKey DuplicateKind = "business key"
)

// Result is what Handle reports for a command that succeeded or was a duplicate.
type Result struct {
	// Stream is the aggregate's stream.
	Stream string
	// Revision is the stream's revision after the command's events: for a duplicate
	// by command id, the revision the original command reached; for a no-op or a
	// duplicate by business key, the stream's current revision (0 when the stream
	// does not exist yet).
	Revision uint64
	// Events are the command's events, as stored. For a duplicate by command id they
	// are the original events. For events written by this call, Position is set only
	// on the last one and RecordedAt is zero (they are known without a read only
	// that far); events read back from the store carry everything.
	Events []eventstore.RecordedEvent
	// Duplicate is true when the command was already handled and this call wrote
	// nothing; DuplicateBy says how it was recognised. Concurrent calls of one
	// command in one Handler share one run, and exactly one of them reports
	// Duplicate false. Across handlers (processes) exactly one append writes, but a
	// loser whose identical append reached the store after the winner's may be
	// acknowledged by the store's id check (G2) and report Duplicate false too: the
	// events are written once either way.
	Duplicate   bool
	DuplicateBy DuplicateKind
	// Key is the business key of a duplicate by business key.
	Key string
	// NoOp is true when the decider returned no events.
	NoOp bool
	// Fingerprint is the payload's fingerprint.
	Fingerprint string
}
