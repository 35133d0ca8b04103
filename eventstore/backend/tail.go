package backend

import (
	"context"
	"iter"
	"math"
	"sync"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// CommitSignal wakes the subscriptions of one process when events were committed:
// a channel closed and replaced on every Broadcast (the zero value is ready). A
// subscription takes the channel before it reads, so a commit after its read
// always wakes it.
type CommitSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns the channel the next Broadcast closes.
func (c *CommitSignal) Wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// Broadcast wakes everyone waiting.
func (c *CommitSignal) Broadcast() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil // the next Wait makes a new one
	}
}

// PositionCursor turns a Position into the last sequence number already read, for
// a backend whose positions are a sequence with Commit == Prepare. For any other
// Position the events after it are those whose sequence is greater than its
// Commit, or equal to it when Prepare is less than Commit (positions order by
// Commit, then Prepare).
func PositionCursor(p eventstore.Position) int64 {
	c := min(p.Commit, math.MaxInt64)
	if p.Prepare < p.Commit && c > 0 {
		c--
	}
	return int64(c)
}

// Log is what Tail needs of a backend whose global log is a sequence in which
// every position at or below a visible head is final (no later commit can take a
// position below it). Every field is required.
type Log struct {
	// Commits wakes the tail when this process commits (and, where the backend
	// has them, when notifications of other processes' commits arrive).
	Commits *CommitSignal
	// Head reads the last visible sequence number.
	Head func(ctx context.Context) (int64, error)
	// Page reads the matching events after after, up to upTo, at most one page,
	// and returns where the next page starts.
	Page func(ctx context.Context, after, upTo int64) ([]eventstore.RecordedEvent, int64, error)
	// Closed reports whether the store is closed; Done is closed by Close.
	Closed func() bool
	Done   <-chan struct{}
	// Poll is how often the tail reads without a wake-up: the bound on how late
	// a commit is seen when its signal is lost or comes from elsewhere.
	Poll time.Duration
}

// Tail is a backend's SubscribeAll over l: the events after after, one Message
// with CaughtUp set, then new events as they are committed. Each pass takes the
// commit signal, reads the head, then everything after the last position scanned
// up to that head, so there is no gap and no repeat. Read errors are wrapped by
// the caller's wrap (nil wraps nothing) and then by SubscribeError; the tail ends
// with no error when ctx is done or the caller stops, and with
// eventstore.ErrClosed when the store closes.
func Tail(ctx context.Context, l Log, after eventstore.Position, wrap func(op string, err error) error) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		t := tail{l: l, wrap: wrap, cursor: PositionCursor(after), delivered: after}
		defer t.stop()
		for ctx.Err() == nil {
			if l.Closed() {
				yield(eventstore.Message{}, SubscribeError(after, eventstore.ErrClosed))
				return
			}
			more, err := t.pass(ctx, yield)
			if err != nil && ctx.Err() == nil {
				yield(eventstore.Message{}, SubscribeError(after, err))
			}
			if err != nil || !more || !t.idle(ctx) {
				return
			}
		}
	}
}

// tail is the state of one Tail.
type tail struct {
	l         Log
	wrap      func(op string, err error) error
	cursor    int64               // the last position scanned
	delivered eventstore.Position // the last position delivered
	caughtUp  bool
	wake      <-chan struct{}
	poll      *time.Ticker
}

// pass reads and yields everything up to the head; more is false when the
// caller stopped ranging.
func (t *tail) pass(ctx context.Context, yield func(eventstore.Message, error) bool) (more bool, err error) {
	t.wake = t.l.Commits.Wait()
	head, err := t.l.Head(ctx)
	if err != nil {
		return false, t.wrapped("read head", err)
	}
	for t.cursor < head {
		page, next, err := t.l.Page(ctx, t.cursor, head)
		if err != nil {
			return false, t.wrapped("read events", err)
		}
		for _, e := range page {
			if ctx.Err() != nil {
				return false, nil
			}
			t.delivered = e.Position
			if !yield(eventstore.Message{Event: e, Position: e.Position}, nil) {
				return false, nil
			}
		}
		t.cursor = next
	}
	if !t.caughtUp {
		t.caughtUp = true
		if !yield(eventstore.Message{CaughtUp: true, Position: t.delivered}, nil) {
			return false, nil
		}
		t.poll = time.NewTicker(t.l.Poll)
	}
	return true, nil
}

// idle waits for a commit, a poll tick or Close; false when ctx is done.
func (t *tail) idle(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-t.l.Done:
	case <-t.wake:
	case <-t.poll.C:
	}
	return true
}

func (t *tail) wrapped(op string, err error) error {
	if t.wrap == nil {
		return err
	}
	return t.wrap(op, err)
}

func (t *tail) stop() {
	if t.poll != nil {
		t.poll.Stop()
	}
}
