package backend

import (
	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
)

// StreamState returns the actual state of a stream, as errors report it:
// eventstore.NoStream() when exists is false, otherwise eventstore.Exact(last).
func StreamState(exists bool, last uint64) eventstore.ExpectedRevision {
	if !exists {
		return eventstore.NoStream()
	}
	return eventstore.Exact(last)
}

// RetryWindow returns the revisions a backend must compare to recognise an append as
// a retry of one already written (G2), for a stream whose state is actual
// (NoStream or Exact(last)), when expected does not accept that state:
// the events at revisions first .. first+count-1 must carry the append's ids, in order.
// ok is false when the append cannot be a retry and must fail with
// ErrWrongExpectedRevision. For Any and StreamExists, which accept existing streams,
// backends compare the stream's last count events instead (best effort).
func RetryWindow(expected, actual eventstore.ExpectedRevision, count int) (first uint64, ok bool) {
	last, exists := actual.Revision()
	if !exists || count <= 0 {
		return 0, false
	}
	switch expected.Kind() {
	case eventstore.KindNoStream:
		first = 0
	case eventstore.KindExact:
		n, _ := expected.Revision()
		if n >= last {
			return 0, false
		}
		first = n + 1
	default:
		return 0, false
	}
	if first+uint64(count)-1 > last {
		return 0, false
	}
	return first, true
}

// SameIDs reports whether stored holds exactly the ids of events, in order.
func SameIDs(events []eventstore.EventData, stored []uuid.UUID) bool {
	if len(events) != len(stored) {
		return false
	}
	for i := range events {
		if events[i].ID != stored[i] {
			return false
		}
	}
	return true
}

// SequencePosition is the position of a backend whose global log is a single
// sequence: Commit and Prepare both hold it.
func SequencePosition(seq uint64) eventstore.Position {
	return eventstore.Position{Commit: seq, Prepare: seq}
}
