package eventstore

import (
	"math"
	"strconv"
)

// StreamEnd, used as the start of a backwards ReadStream, means the stream's last event.
const StreamEnd uint64 = math.MaxUint64

// RevisionKind names the four cases of an ExpectedRevision.
type RevisionKind uint8

// The cases of an ExpectedRevision. The zero RevisionKind is not a valid case, so a
// forgotten expected revision is an error rather than a silent Any.
const (
	KindAny RevisionKind = iota + 1
	KindNoStream
	KindStreamExists
	KindExact
)

// ExpectedRevision is what an append expects of its stream. It has exactly four cases:
// Any(), NoStream(), StreamExists() and Exact(n). Its fields are unexported so a caller
// can't pass a bare integer, the cases are made by functions so none can be
// reassigned, and the zero value is invalid (appending with it fails with
// ErrInvalidExpectedRevision).
type ExpectedRevision struct {
	kind     RevisionKind
	revision uint64
}

// Any accepts the stream in any state. Idempotency under Any is best effort.
func Any() ExpectedRevision { return ExpectedRevision{kind: KindAny} }

// NoStream requires that the stream has no events.
func NoStream() ExpectedRevision { return ExpectedRevision{kind: KindNoStream} }

// StreamExists requires that the stream has at least one event.
func StreamExists() ExpectedRevision { return ExpectedRevision{kind: KindStreamExists} }

// Exact requires that the stream's last event has revision n.
func Exact(n uint64) ExpectedRevision { return ExpectedRevision{kind: KindExact, revision: n} }

// Kind reports which of the four cases e is; 0 for the invalid zero value.
func (e ExpectedRevision) Kind() RevisionKind { return e.kind }

// Revision returns n for Exact(n); ok is false for every other case.
func (e ExpectedRevision) Revision() (n uint64, ok bool) {
	return e.revision, e.kind == KindExact
}

// IsValid reports whether e is one of the four cases.
func (e ExpectedRevision) IsValid() bool { return e.kind >= KindAny && e.kind <= KindExact }

// String renders e as it appears in error messages: "any", "no stream",
// "stream exists" or "revision N".
func (e ExpectedRevision) String() string {
	switch e.kind {
	case KindAny:
		return "any"
	case KindNoStream:
		return "no stream"
	case KindStreamExists:
		return "stream exists"
	case KindExact:
		return "revision " + strconv.FormatUint(e.revision, 10)
	default:
		return "invalid expected revision"
	}
}

// Accepts reports whether a stream whose state is actual (NoStream(), or Exact of
// its last revision) satisfies e.
func (e ExpectedRevision) Accepts(actual ExpectedRevision) bool {
	switch e.kind {
	case KindAny:
		return true
	case KindNoStream:
		return actual.kind == KindNoStream
	case KindStreamExists:
		return actual.kind == KindExact
	case KindExact:
		return actual.kind == KindExact && actual.revision == e.revision
	default:
		return false
	}
}
