package faults

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// Store is an eventstore.Store that injects the faults of its rules into the calls
// it passes to an inner store. It is safe for concurrent use. Create it with Wrap.
type Store struct {
	inner eventstore.Store
	rules []*armed
	stats stats
}

var (
	_ eventstore.Store      = (*Store)(nil)
	_ eventstore.HeadReader = (*Store)(nil)
)

// armed is a rule with its own call counter.
type armed struct {
	Rule
	calls atomic.Uint64
}

// Wrap returns a Store that passes every call to inner and injects the faults of
// rules. Rules are checked in order on every call they apply to, and each counts
// its calls; all firing Delay rules add up, and the first firing failure rule is
// the one injected (at most one failure per call).
func Wrap(inner eventstore.Store, rules ...Rule) *Store {
	s := &Store{inner: inner}
	for _, r := range rules {
		if r.schedule == nil || r.ops == 0 {
			continue
		}
		s.rules = append(s.rules, &armed{Rule: r})
	}
	return s
}

// Inner returns the wrapped store, for checking what was really written.
func (s *Store) Inner() eventstore.Store { return s.inner }

// firing is the failure chosen for one call.
type firing struct {
	kind  Kind
	call  uint64
	after int
}

// plan counts the call for every rule that applies to it and returns the total
// delay and the failure to inject, if any.
func (s *Store) plan(op Op, stream string) (delay time.Duration, fail *firing) {
	for _, r := range s.rules {
		if !r.applies(op, stream) {
			continue
		}
		n := r.calls.Add(1)
		if !r.schedule(n) {
			continue
		}
		if r.kind == KindDelay {
			delay += r.delay
			continue
		}
		if fail == nil {
			fail = &firing{kind: r.kind, call: n, after: r.after}
		}
	}
	return delay, fail
}

// wait sleeps d, or less if ctx ends first, and counts the delay.
func (s *Store) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	s.stats.delays.Add(1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Append passes the append to the inner store unless a rule fails it before
// (FailBeforeAppend) or after (LostAck) it is written.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	s.stats.appends.Add(1)
	delay, f := s.plan(OpAppend, stream)
	if err := s.wait(ctx, delay); err != nil {
		return eventstore.AppendResult{}, backend.AppendError(stream, expected, err)
	}
	if f != nil && f.kind == KindFailBeforeAppend {
		s.stats.failedAppends.Add(1)
		return eventstore.AppendResult{}, backend.AppendError(stream, expected,
			&InjectedError{Kind: f.kind, Op: OpAppend, Call: f.call})
	}
	res, err := s.inner.Append(ctx, stream, expected, events...)
	if err != nil || f == nil {
		return res, err
	}
	s.stats.lostAcks.Add(1)
	return eventstore.AppendResult{}, backend.AppendError(stream, expected,
		&InjectedError{Kind: f.kind, Op: OpAppend, Call: f.call, Written: true})
}

// ReadStream passes the read to the inner store, failing it midway if a
// FailReadAfter rule fires.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	s.stats.readStreams.Add(1)
	delay, f := s.plan(OpReadStream, stream)
	wrapErr := func(err error) error { return backend.ReadStreamError(stream, err) }
	return s.read(ctx, OpReadStream, delay, f, wrapErr, s.inner.ReadStream(ctx, stream, from, opts...))
}

// ReadAll passes the read to the inner store, failing it midway if a FailReadAfter
// rule fires.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	s.stats.readAlls.Add(1)
	delay, f := s.plan(OpReadAll, "")
	wrapErr := func(err error) error { return backend.ReadAllError(after, err) }
	return s.read(ctx, OpReadAll, delay, f, wrapErr, s.inner.ReadAll(ctx, after, opts...))
}

// read wraps an inner read with the planned delay and failure.
func (s *Store) read(ctx context.Context, op Op, delay time.Duration, f *firing, wrapErr func(error) error, inner iter.Seq2[eventstore.RecordedEvent, error]) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := s.wait(ctx, delay); err != nil {
			yield(eventstore.RecordedEvent{}, wrapErr(err))
			return
		}
		inject := func() {
			s.stats.failedReads.Add(1)
			yield(eventstore.RecordedEvent{}, wrapErr(&InjectedError{Kind: f.kind, Op: op, Call: f.call}))
		}
		if f != nil && f.after == 0 {
			inject()
			return
		}
		n := 0
		for e, err := range inner {
			if !yield(e, err) || err != nil {
				return
			}
			n++
			if f != nil && n >= f.after {
				inject()
				return
			}
		}
		if f != nil {
			inject()
		}
	}
}

// SubscribeAll passes the subscription to the inner store, dropping it after some
// events if a DropSubscriptionAfter rule fires.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[eventstore.Message, error] {
	s.stats.subscriptions.Add(1)
	delay, f := s.plan(OpSubscribeAll, "")
	inner := s.inner.SubscribeAll(ctx, after, opts...)
	return func(yield func(eventstore.Message, error) bool) {
		if err := s.wait(ctx, delay); err != nil {
			// A subscription ends without error when its context ends.
			return
		}
		drop := func() {
			s.stats.droppedSubscriptions.Add(1)
			yield(eventstore.Message{}, backend.SubscribeError(after,
				&InjectedError{Kind: f.kind, Op: OpSubscribeAll, Call: f.call}))
		}
		if f != nil && f.after == 0 {
			drop()
			return
		}
		n := 0
		for m, err := range inner {
			if !yield(m, err) || err != nil {
				return
			}
			if m.CaughtUp {
				continue
			}
			n++
			if f != nil && n >= f.after {
				drop()
				return
			}
		}
	}
}

// Head passes through to the inner store's eventstore.HeadReader; no fault applies
// to it. If the inner store has no Head, it fails with an error matching
// errors.ErrUnsupported.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	h, ok := s.inner.(eventstore.HeadReader)
	if !ok {
		return eventstore.Start(), fmt.Errorf("read head of %T: %w", s.inner, errors.ErrUnsupported)
	}
	return h.Head(ctx)
}

// Close closes the inner store.
func (s *Store) Close() error { return s.inner.Close() }
