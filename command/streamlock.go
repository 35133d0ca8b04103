package command

import (
	"context"
	"sync"
)

// streamLocks runs a Handler's commands one stream at a time (G4 within one
// handler): a command waits for the commands of its stream before it, in arrival
// order, so commands of one process never conflict with each other on an
// aggregate, and the next command decides on the aggregate the previous one left.
// Commands of different streams run in parallel. An entry lives while a command of
// its stream runs or waits, so memory is bounded by the commands in flight.
//
// It also answers concurrent deliveries of one command: the second runs after the
// first and finds the command in the processed set it left (G3), so exactly one
// caller is told it applied the command.
type streamLocks[S any] struct {
	mu sync.Mutex
	m  map[string]*streamLock[S]
}

// streamLock is the turn of one stream. sem holds a token while a command runs;
// Go queues blocked senders in order, so waiters take their turns first come,
// first served.
type streamLock[S any] struct {
	sem  chan struct{}
	refs int // commands running or waiting; guarded by streamLocks.mu
	// last is the aggregate the previous command of the stream left, handed to the
	// next one so that it catches up from its revision instead of loading the
	// stream; nil when unknown. Only the holder of the turn touches it.
	last *loaded[S]
}

// lock waits for stream's turn, or for ctx to end. The caller must call unlock
// with the returned lock.
func (l *streamLocks[S]) lock(ctx context.Context, stream string) (*streamLock[S], error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*streamLock[S]{}
	}
	e := l.m[stream]
	if e == nil {
		e = &streamLock[S]{sem: make(chan struct{}, 1)}
		l.m[stream] = e
	}
	e.refs++
	l.mu.Unlock()
	select {
	case e.sem <- struct{}{}:
		return e, nil
	case <-ctx.Done():
		l.release(stream, e)
		return nil, ctx.Err()
	}
}

// unlock ends the holder's turn.
func (l *streamLocks[S]) unlock(stream string, e *streamLock[S]) {
	<-e.sem
	l.release(stream, e)
}

// release drops one reference to e, and the entry (with its hand-off) when idle.
func (l *streamLocks[S]) release(stream string, e *streamLock[S]) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.m, stream)
	}
}

// size reports how many streams have an entry (for tests).
func (l *streamLocks[S]) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
