package command

import (
	"context"
	"sync"
)

// streamTurns runs a handler's commands one stream at a time (G4 within one
// handler). Commands of one stream queue in arrival order; the goroutine whose
// command finds the stream idle runs a batch: its own command and those queued
// behind it (up to the batch limit), decided one after another and written in one
// append when possible (runMany). When the batch is done it hands the stream to
// the first command still waiting, whose goroutine runs the next batch: no
// caller's Handle runs other callers' batches beyond the one it joined.
//
// So commands of one process never conflict with each other on an aggregate, the
// next batch decides on the aggregate the previous one left, and a second delivery
// of a command finds the first one's record: exactly one caller is told it
// applied the command. Commands of different streams run in parallel. An entry
// lives while a command of its stream runs or waits: memory is bounded by the
// commands in flight.
type streamTurns[S, C any] struct {
	mu sync.Mutex
	m  map[string]*streamTurn[S, C]
}

// streamTurn is the queue of one stream. waiting and busy are guarded by
// streamTurns.mu; last is touched only by the goroutine running a batch.
type streamTurn[S, C any] struct {
	waiting []*call[C]
	busy    bool
	// last is the aggregate the previous batch left, handed to the next one so
	// that it catches up from its revision instead of loading the stream; nil
	// when unknown.
	last *loaded[S]
}

// States of a queued call: it is claimed exactly once, by a batch that takes it,
// by its caller giving up before that (abandoned), or by the goroutine handing the
// stream on to it (promoted: its caller runs the next batch).
const (
	callQueued int32 = iota
	callTaken
	callAbandoned
	callPromoted
)

// runFunc runs a batch of calls of one stream (the first is the caller's own) and
// sets every call's answer.
type runFunc[S, C any] func(ctx context.Context, turn *streamTurn[S, C], batch []*call[C])

// join queues cl on its stream and returns its answer. The caller runs a batch when
// the stream is idle or when it is promoted; otherwise it waits for the batch that
// takes cl, or gives up when ctx ends before one does.
func (t *streamTurns[S, C]) join(ctx context.Context, cl *call[C], maxBatch int, run runFunc[S, C]) (Result, error) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]*streamTurn[S, C]{}
	}
	e := t.m[cl.stream]
	if e == nil {
		e = &streamTurn[S, C]{}
		t.m[cl.stream] = e
	}
	if !e.busy {
		e.busy = true
		t.mu.Unlock()
		t.lead(ctx, e, cl, maxBatch, run)
		return cl.res, cl.err
	}
	cl.wake = make(chan struct{}, 1)
	e.waiting = append(e.waiting, cl)
	t.mu.Unlock()

	select {
	case <-cl.wake:
	case <-ctx.Done():
		if cl.state.CompareAndSwap(callQueued, callAbandoned) {
			return Result{}, cl.errorf("wait for the turn of %s: %w", cl.stream, ctx.Err())
		}
		<-cl.wake // taken by a batch (its answer is coming), or promoted
	}
	if cl.state.Load() == callPromoted {
		t.lead(ctx, e, cl, maxBatch, run)
	}
	return cl.res, cl.err
}

// lead runs a batch made of first and the calls queued behind it, then hands the
// stream to the next waiting call, or marks it idle.
func (t *streamTurns[S, C]) lead(ctx context.Context, e *streamTurn[S, C], first *call[C], maxBatch int, run runFunc[S, C]) {
	batch := []*call[C]{first}
	t.mu.Lock()
	keep := e.waiting[:0]
	for _, w := range e.waiting {
		switch {
		case len(batch) < maxBatch && w.state.CompareAndSwap(callQueued, callTaken):
			batch = append(batch, w)
		case w.state.Load() == callQueued:
			keep = append(keep, w)
		}
	}
	clear(e.waiting[len(keep):])
	e.waiting = keep
	t.mu.Unlock()

	run(ctx, e, batch)
	for _, c := range batch[1:] {
		c.wake <- struct{}{}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	for len(e.waiting) > 0 {
		next := e.waiting[0]
		e.waiting[0] = nil
		e.waiting = e.waiting[1:]
		if next.state.CompareAndSwap(callQueued, callPromoted) {
			next.wake <- struct{}{}
			return
		}
	}
	e.busy = false
	delete(t.m, first.stream)
}

// size reports how many streams have an entry (for tests).
func (t *streamTurns[S, C]) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
