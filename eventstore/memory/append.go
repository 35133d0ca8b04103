package memory

import (
	"context"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// Append writes events to the end of stream, atomically, if the stream satisfies
// expected; see eventstore.Store. A retry of an append already written (same ids in
// the same order after the same expected revision) writes nothing and returns the
// original result (G2).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := backend.ValidateAppend(stream, expected, events, s.maxAppendSize); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, backend.AppendError(stream, expected, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.AppendResult{}, backend.AppendError(stream, expected, eventstore.ErrClosed)
	}
	// Checked again under the lock: a context cancelled while waiting for it must
	// not write.
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, backend.AppendError(stream, expected, err)
	}

	indices := s.streams[stream]
	actual := backend.StreamState(len(indices) > 0, uint64(len(indices))-1)
	if !expected.Accepts(actual) {
		if last, ok := s.strongRetry(expected, actual, indices, events); ok {
			return s.result(last, eventstore.Replayed), nil
		}
		return eventstore.AppendResult{}, &eventstore.WrongExpectedRevisionError{
			Stream: stream, Expected: expected, Actual: actual,
		}
	}
	if last, ok := s.bestEffortRetry(expected, indices, events); ok {
		return s.result(last, eventstore.Replayed), nil
	}
	return s.commit(stream, indices, events), nil
}

// strongRetry reports whether an append that expected refuses retries one already
// written, and where that append's last event is in the log. G2, strong rule for
// Exact and NoStream: the events that directly follow the expected revision carry
// exactly these ids. indices are the stream's events; the caller holds the lock.
func (s *Store) strongRetry(expected, actual eventstore.ExpectedRevision, indices []int, events []eventstore.EventData) (last int, ok bool) {
	first, ok := backend.RetryWindow(expected, actual, len(events))
	if !ok {
		return 0, false
	}
	window := indices[first : first+uint64(len(events))]
	if !s.sameIDs(events, window) {
		return 0, false
	}
	return window[len(window)-1], true
}

// bestEffortRetry reports whether an append that expected accepts retries one
// already written, and where that append's last event is in the log. G2, best
// effort for Any and StreamExists (as EventStoreDB): the stream's last events carry
// exactly these ids. indices are the stream's events; the caller holds the lock.
func (s *Store) bestEffortRetry(expected eventstore.ExpectedRevision, indices []int, events []eventstore.EventData) (last int, ok bool) {
	if k := expected.Kind(); (k != eventstore.KindAny && k != eventstore.KindStreamExists) || len(indices) < len(events) {
		return 0, false
	}
	tail := indices[len(indices)-len(events):]
	if !s.sameIDs(events, tail) {
		return 0, false
	}
	return tail[len(tail)-1], true
}

// commit writes events at the end of stream, whose events are at indices in the
// log, and wakes the subscriptions. The caller holds the lock.
func (s *Store) commit(stream string, indices []int, events []eventstore.EventData) eventstore.AppendResult {
	now := s.now().UTC()
	next := uint64(len(indices))
	for i, e := range events {
		idx := len(s.log)
		s.log = append(s.log, eventstore.RecordedEvent{
			ID:         e.ID,
			Stream:     stream,
			Revision:   next + uint64(i),
			Position:   backend.SequencePosition(uint64(idx) + 1),
			Type:       e.Type,
			Data:       cloneBytes(e.Data),
			Metadata:   cloneBytes(e.Metadata),
			RecordedAt: now,
		})
		indices = append(indices, idx)
		s.byID[eventKey{stream, e.ID}] = idx
	}
	s.streams[stream] = indices
	close(s.wake)
	s.wake = make(chan struct{})
	return s.result(len(s.log)-1, eventstore.Written)
}

// sameIDs reports whether the events at the given log indices carry the ids of
// events, in order. The caller holds the lock.
func (s *Store) sameIDs(events []eventstore.EventData, indices []int) bool {
	if len(events) != len(indices) {
		return false
	}
	for i, idx := range indices {
		if s.log[idx].ID != events[i].ID {
			return false
		}
	}
	return true
}

// result is the AppendResult of an append whose last event is log[idx].
func (s *Store) result(idx int, outcome eventstore.AppendOutcome) eventstore.AppendResult {
	e := &s.log[idx]
	return eventstore.AppendResult{Revision: e.Revision, Position: e.Position, Outcome: outcome}
}
