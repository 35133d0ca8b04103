package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// Store is an in-memory eventstore.Store. It also implements eventstore.HeadReader,
// eventstore.EventFinder and eventstore.SnapshotStore.
// The zero value is not usable: create one with New. Every method is safe for
// concurrent use.
type Store struct {
	maxAppendSize int
	now           func() time.Time

	mu sync.RWMutex
	// log is the global log: log[i] has position SequencePosition(i+1). Elements are
	// never changed once appended, so readers may keep a slice of it and read it
	// without the lock.
	log []eventstore.RecordedEvent
	// streams maps a stream name to the indices in log of its events, by revision.
	// Like log, only ever appended to.
	streams map[string][]int
	// byID maps a stream and an event id to the event's index in log (FindEvent).
	byID map[eventKey]int
	// snaps holds each stream's latest snapshot (SnapshotStore).
	snaps map[string]eventstore.Snapshot
	// wake is closed and replaced on every commit; subscriptions wait on it.
	wake chan struct{}
	// done is closed by Close.
	done   chan struct{}
	closed bool
}

var (
	_ eventstore.Store      = (*Store)(nil)
	_ eventstore.HeadReader = (*Store)(nil)
)

// Option configures Open. An option given a value it cannot use makes Open fail
// with eventstore.ErrInvalidOption.
type Option func(*Store) error

// WithMaxAppendSize sets the limit on the bytes of one append (the sum of every
// event's type, data and metadata); eventstore.DefaultMaxAppendSize by default.
func WithMaxAppendSize(n int) Option {
	return func(s *Store) error {
		if n < 1 {
			return fmt.Errorf("%w: WithMaxAppendSize(%d): need at least 1 byte", eventstore.ErrInvalidOption, n)
		}
		s.maxAppendSize = n
		return nil
	}
}

// WithClock sets the clock that stamps RecordedAt; the time is stored in UTC.
// The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Store) error {
		if now == nil {
			return fmt.Errorf("%w: WithClock(nil)", eventstore.ErrInvalidOption)
		}
		s.now = now
		return nil
	}
}

// New returns an empty Store with the defaults. It cannot fail; Open takes
// options.
func New() *Store {
	return &Store{
		maxAppendSize: eventstore.DefaultMaxAppendSize,
		now:           time.Now,
		streams:       make(map[string][]int),
		byID:          make(map[eventKey]int),
		snaps:         make(map[string]eventstore.Snapshot),
		wake:          make(chan struct{}),
		done:          make(chan struct{}),
	}
}

// Open returns an empty Store configured by opts.
func Open(opts ...Option) (*Store, error) {
	s := New()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Close releases the store: later calls fail with eventstore.ErrClosed and running
// subscriptions end with it. Closing a closed Store does nothing and returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	return nil
}

// Head returns the position of the last event in the global log, or
// eventstore.Start() when the log is empty.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Start(), err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return eventstore.Start(), eventstore.ErrClosed
	}
	if len(s.log) == 0 {
		return eventstore.Start(), nil
	}
	return s.log[len(s.log)-1].Position, nil
}

// snapshot returns the log and the stream's indices as they are now, and whether the
// store is closed. The slices stay valid without the lock: their elements never change.
func (s *Store) snapshot(stream string) (log []eventstore.RecordedEvent, indices []int, closed bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.log, s.streams[stream], s.closed
}

// clone returns a copy of e whose byte slices the caller may keep and change.
func clone(e eventstore.RecordedEvent) eventstore.RecordedEvent {
	e.Data = cloneBytes(e.Data)
	e.Metadata = cloneBytes(e.Metadata)
	return e
}

// cloneBytes copies b; nil stays nil and empty stays empty.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
