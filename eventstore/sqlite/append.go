package sqlite

import (
	"context"
	"sync/atomic"

	"github.com/idemkit/idem/eventstore"
)

// Request states: a request is claimed exactly once, by the writer when it starts
// the request's batch (taken) or by the caller whose context ended first
// (abandoned). An abandoned request is never written.
const (
	requestPending int32 = iota
	requestTaken
	requestAbandoned
)

// appendRequest is one Append waiting for, or running in, a batch of the writer.
type appendRequest struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData

	state atomic.Int32
	// res and err are set by the writer before it closes done.
	res  eventstore.AppendResult
	err  error
	done chan struct{}
}

// finish hands the outcome to the caller.
func (r *appendRequest) finish(res eventstore.AppendResult, err error) {
	r.res, r.err = res, err
	close(r.done)
}

// Append writes events to the end of stream, atomically, if the stream satisfies
// expected; see eventstore.Store and the package doc on group commit. A retry of an
// append already written (same ids, same order, after the same expected revision)
// writes nothing and returns the original result (G2).
//
// An append whose context ends before its batch starts fails with the context's
// error and writes nothing; once its batch has started, Append waits for the
// batch's outcome.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	// G11: validate before anything is queued, so bad input never reaches the writer.
	if err := eventstore.ValidateAppend(stream, expected, events, s.cfg.maxAppendSize); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, eventstore.AppendError(stream, expected, err)
	}
	req := &appendRequest{
		ctx:      ctx,
		stream:   stream,
		expected: expected,
		events:   events,
		done:     make(chan struct{}),
	}

	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return eventstore.AppendResult{}, eventstore.AppendError(stream, expected, eventstore.ErrClosed)
	}
	select {
	case s.queue <- req:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return eventstore.AppendResult{}, eventstore.AppendError(stream, expected, ctx.Err())
	}

	select {
	case <-req.done:
		return req.res, req.err
	case <-ctx.Done():
		if req.state.CompareAndSwap(requestPending, requestAbandoned) {
			// The writer has not started this append's batch and now never will.
			return eventstore.AppendResult{}, eventstore.AppendError(stream, expected, ctx.Err())
		}
		// Its batch has started: the outcome is the batch's.
		<-req.done
		return req.res, req.err
	}
}
