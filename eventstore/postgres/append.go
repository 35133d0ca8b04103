package postgres

import (
	"context"
	"math"
	"strings"
	"sync/atomic"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// Request states: a queued request is claimed exactly once, by the leader that
// starts the request's batch (taken), by the caller whose context ended first
// (abandoned), or by a leader that hands leadership on to it (promoted; it then
// runs its own batch). An abandoned request is never written.
const (
	requestPending int32 = iota
	requestTaken
	requestAbandoned
	requestPromoted
)

// appendRequest is one Append waiting for, or running in, a batch.
type appendRequest struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData

	state atomic.Int32
	// res and err are set by the leader of the request's batch before it wakes the
	// caller.
	res eventstore.AppendResult
	err error
	// wake is made when the request is queued behind a leader: it is signalled once,
	// when the outcome is set or when the request is promoted to leader.
	wake chan struct{}
}

// finish hands the outcome to the caller.
func (r *appendRequest) finish(res eventstore.AppendResult, err error) {
	r.res, r.err = res, err
	if r.wake != nil {
		r.wake <- struct{}{}
	}
}

// Append writes events to the end of stream, atomically, if the stream satisfies
// expected; see eventstore.Store and the package doc on group commit. A retry of an
// append already written (same ids, same order, after the same expected revision)
// writes nothing and returns the original result with Outcome eventstore.Replayed
// (G2); every other success reports eventstore.Written.
//
// An append whose context ends before its batch starts fails with the context's
// error and writes nothing; once its batch has been sent, Append waits for the
// batch's outcome (bounded by WithTimeout). A batch whose answer is lost (a cut
// connection, a restarting server, the timeout) fails with an error matching
// eventstore.ErrUnavailable: it may or may not have been committed, and retrying
// with the same ids tells which (Replayed) or writes it (Written).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	// G11: validate before anything is queued, so bad input never reaches a batch.
	if err := backend.ValidateAppend(stream, expected, events, s.cfg.maxAppendSize); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := validateText(events); err != nil {
		return eventstore.AppendResult{}, backend.AppendError(stream, expected, err)
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, backend.AppendError(stream, expected, err)
	}
	req := &appendRequest{ctx: ctx, stream: stream, expected: expected, events: events}

	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return eventstore.AppendResult{}, backend.AppendError(stream, expected, eventstore.ErrClosed)
	}
	if !s.leading {
		// No batch is running: this append leads, in the caller's goroutine.
		s.leading = true
		s.wmu.Unlock()
		s.lead(req)
		return req.res, req.err
	}
	req.wake = make(chan struct{}, 1)
	s.waiting = append(s.waiting, req)
	s.wmu.Unlock()

	select {
	case <-req.wake:
	case <-ctx.Done():
		if req.state.CompareAndSwap(requestPending, requestAbandoned) {
			// No batch has started this append and none ever will.
			return eventstore.AppendResult{}, backend.AppendError(stream, expected, ctx.Err())
		}
		// Its batch has started (the outcome is the batch's), or it was promoted.
		<-req.wake
	}
	if req.state.Load() == requestPromoted {
		s.lead(req)
	}
	return req.res, req.err
}

// validateText refuses what PostgreSQL's text type cannot hold and the common
// checks let through: a NUL byte in an event type.
func validateText(events []eventstore.EventData) error {
	for i, e := range events {
		if strings.IndexByte(e.Type, 0) >= 0 {
			return &eventstore.InvalidEventError{Index: i, ID: e.ID, Reason: "type contains a NUL byte, which PostgreSQL text cannot hold"}
		}
	}
	return nil
}

// args returns the arguments of the append function for r.
func (r *appendRequest) args(now any) []any {
	n := len(r.events)
	ids := make([][16]byte, n)
	types := make([]string, n)
	data := make([][]byte, n)
	meta := make([][]byte, n)
	for i, e := range r.events {
		ids[i], types[i], data[i], meta[i] = e.ID, e.Type, e.Data, e.Metadata
	}
	expected := int64(-1)
	if rev, ok := r.expected.Revision(); ok {
		// A revision beyond int64 is one no stream reaches: it never matches.
		expected = int64(min(rev, math.MaxInt64))
	}
	return []any{r.stream, int32(r.expected.Kind()), expected, ids, types, data, meta, now}
}

// size is the payload of the request, as ValidateAppend counts it.
func (r *appendRequest) size() int {
	n := 0
	for _, e := range r.events {
		n += len(e.Type) + len(e.Data) + len(e.Metadata)
	}
	return n
}
