package eventstore

import (
	"context"
	"iter"
)

// Store is an event store: named streams of events with per-stream revisions, and a
// global log ordered by Position. Every method is safe for concurrent use. The
// conformance suite in eventstore/storetest states the contract as tests.
type Store interface {
	// Append writes events to the end of stream, atomically, if the stream satisfies
	// expected. It needs at least one event. See the package doc for the idempotency
	// rule (G2). Failures are typed: *WrongExpectedRevisionError,
	// *InvalidStreamNameError, *InvalidEventError, *AppendTooLargeError, ErrClosed,
	// or the context's error; nothing is written when Append fails.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream yields the events of stream from revision from (inclusive), forwards,
	// or with Backwards() from that revision (or StreamEnd) down to 0. A stream with no
	// events yields a single error matching ErrStreamNotFound. Limit applies; filters
	// do not (they yield ErrInvalidReadOption).
	ReadStream(ctx context.Context, stream string, from uint64, opts ...ReadOption) iter.Seq2[RecordedEvent, error]

	// ReadAll yields the events of the global log whose position is after the given
	// one (Start reads from the beginning), in position order, filtered by
	// StreamPrefix and EventTypes and capped by Limit. Backwards is not supported
	// (ErrInvalidReadOption).
	ReadAll(ctx context.Context, after Position, opts ...ReadOption) iter.Seq2[RecordedEvent, error]

	// SubscribeAll yields the events after the given position, like ReadAll, then
	// one Message with CaughtUp set when it has delivered everything committed when
	// it reached the end, then new events as they are committed: no gap and no repeat
	// across that boundary. It ends, with no error, when ctx is done or the caller
	// stops ranging; it ends with an error if the store fails or closes.
	SubscribeAll(ctx context.Context, after Position, opts ...ReadOption) iter.Seq2[Message, error]

	// Close releases the store. Calls after Close fail with ErrClosed; running
	// subscriptions end with ErrClosed.
	Close() error
}

// Message is one item of a subscription: an event, or the signal that the
// subscription has caught up with the log and is now live.
type Message struct {
	// Event is set when CaughtUp is false.
	Event RecordedEvent
	// CaughtUp is true once, after the catch-up phase.
	CaughtUp bool
	// Position is the event's position, or for CaughtUp the position of the last
	// event delivered (or the subscription's start if none was).
	Position Position
}

// HeadReader is implemented by stores that can tell the position of the last event
// in the global log cheaply. Projections use it to report lag.
type HeadReader interface {
	// Head returns the position of the last event, or Start if the log is empty.
	Head(ctx context.Context) (Position, error)
}
