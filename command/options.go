package command

import (
	"log/slog"
	"time"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/aggregate/reservation"
)

// Defaults of a Handler.
const (
	DefaultRetries    = 8
	DefaultMinBackoff = time.Millisecond
	DefaultMaxBackoff = 100 * time.Millisecond
)

// Option configures NewHandler.
type Option func(*config)

type config struct {
	retries          int
	minBackoff       time.Duration
	maxBackoff       time.Duration
	snapshots        aggregate.SnapshotStore
	snapshotEvery    int
	schemaVersion    int
	cacheSize        int
	windowCount      int
	windowAge        time.Duration
	recordRejections bool
	recordNoOps      bool
	logger           *slog.Logger
	now              func() time.Time
	reservations     *reservation.Reservations
	maxAppendSize    int
	err              error
}

// WithMaxAppendSize sets the most bytes of one command's payload encoding, and of
// the events it decides (type, data and metadata together): larger ones are
// refused before they are encoded whole or sent to the store (G11). The default,
// eventstore.DefaultMaxAppendSize, is the stores' default limit; set it to your
// store's limit if you raised that.
func WithMaxAppendSize(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.err = errorf("WithMaxAppendSize(%d): need at least 1 byte", n)
			return
		}
		c.maxAppendSize = n
	}
}

// WithRetries sets how many times a command is decided again after a conflict with
// another command (G4), or after an append whose outcome was unknown, before it
// fails with *RetriesExhaustedError. 0 means no retry. Default DefaultRetries.
func WithRetries(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.err = errorf("WithRetries(%d): negative", n)
			return
		}
		c.retries = n
	}
}

// WithBackoff sets the bounds of the jittered exponential backoff between retries:
// the k-th wait is a random duration in [d/2, d] with d = min(max, minimum<<k).
func WithBackoff(minimum, maximum time.Duration) Option {
	return func(c *config) {
		if minimum < 0 || maximum < minimum {
			c.err = errorf("WithBackoff(%v, %v): need 0 <= min <= max", minimum, maximum)
			return
		}
		c.minBackoff, c.maxBackoff = minimum, maximum
	}
}

// WithSnapshots stores a snapshot of the state and the processed command set (G7)
// in store each time every or more events were added since the last one, so loading
// reads only the events since the snapshot. schemaVersion is the version of the
// state's encoding: change it when S changes shape, and snapshots of other versions
// are ignored (the state is rebuilt from events). The state is encoded with the
// codec's serializer. Saving is synchronous, after the append; a failed save is
// logged, not returned: the command's events are already stored.
func WithSnapshots(store aggregate.SnapshotStore, every int, schemaVersion int) Option {
	return func(c *config) {
		if store == nil || every < 1 {
			c.err = errorf("WithSnapshots: need a store and every >= 1")
			return
		}
		c.snapshots, c.snapshotEvery, c.schemaVersion = store, every, schemaVersion
	}
}

// WithCache keeps the last size aggregates handled (state, revision, processed
// command set, recent events) in memory. A duplicate found in a cached set is
// answered without I/O; a new command on a cached aggregate costs one append. A
// cache made stale by another process is caught by the Exact append, which fails
// and makes the handler catch the cached aggregate up (reading only the events
// after its revision, into a copy). Size 0 disables the cache (the default).
func WithCache(size int) Option {
	return func(c *config) {
		if size < 0 {
			c.err = errorf("WithCache(%d): negative", size)
			return
		}
		c.cacheSize = size
	}
}

// WithDedupeWindow bounds the processed command set (G7) to the last count commands
// and to commands recorded within age of the handler's clock; 0 leaves that bound
// off. By default the window is unlimited: every command id is kept for the life of
// the stream. A duplicate older than the window is decided afresh, so it is caught
// only by the aggregate's business keys (Decide returning aggregate.AlreadyDone):
// bound the window only where every command is idempotent by business key.
func WithDedupeWindow(count int, age time.Duration) Option {
	return func(c *config) {
		if count < 0 || age < 0 {
			c.err = errorf("WithDedupeWindow(%d, %v): negative", count, age)
			return
		}
		c.windowCount, c.windowAge = count, age
	}
}

// RecordRejections writes a RejectedEventType marker event, holding the error text,
// for each command the decider rejects, so that its retry gets the same rejection
// even after the state changed. By default (G6) a rejection writes nothing and its
// retry is decided afresh: cheaper, and right when the retry should succeed once the
// state allows it. The marker costs a write per rejection and lengthens the stream.
func RecordRejections() Option { return func(c *config) { c.recordRejections = true } }

// RecordNoOps writes a NoOpEventType marker event for each command that decides no
// events, so its retry is a duplicate even after the state changed. By default (G6)
// a no-op writes nothing.
func RecordNoOps() Option { return func(c *config) { c.recordNoOps = true } }

// WithLogger sets the logger for retries, exhausted budgets and failed snapshot
// saves (slog.Default() by default).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithClock sets the handler's clock (time.Now by default). It stamps snapshots,
// reservation claims and the dedupe window's age; it never reaches the decider and
// the event store stamps RecordedAt itself.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithReservations sets where the keys of Decider.Keys are claimed. By default the
// handler claims them in its own event store.
func WithReservations(r *reservation.Reservations) Option {
	return func(c *config) {
		if r != nil {
			c.reservations = r
		}
	}
}
