package command

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/telemetry"
	"github.com/idemkit/idem/reservation"
)

// Defaults of a Handler.
const (
	DefaultRetries       = 8
	DefaultMinBackoff    = time.Millisecond
	DefaultMaxBackoff    = 100 * time.Millisecond
	DefaultSnapshotEvery = 100
	DefaultCacheSize     = 1024
)

// Option configures NewHandler. An option given a value it cannot use makes
// NewHandler fail with ErrInvalidHandler.
type Option func(*config) error

type config struct {
	retries          int
	minBackoff       time.Duration
	maxBackoff       time.Duration
	snapshots        eventstore.SnapshotStore
	noSnapshots      bool
	snapshotEvery    int
	snapshotVersion  int
	cacheSize        int
	windowCount      int
	windowAge        time.Duration
	recordRejections bool
	recordNoOps      bool
	logger           *slog.Logger
	now              func() time.Time
	reservations     *reservation.Reservations
	maxAppendSize    int
	telemetry        telemetry.Providers
}

func defaultConfig() config {
	return config{
		retries: DefaultRetries, minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff,
		snapshotEvery: DefaultSnapshotEvery, cacheSize: DefaultCacheSize, logger: slog.Default(), now: time.Now,
		maxAppendSize: eventstore.DefaultMaxAppendSize,
	}
}

func invalidOption(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidHandler}, args...)...)
}

// WithRetries sets how many times a command is decided again after a conflict with
// another writer (G4), or after an append whose outcome was unknown, before it
// fails with *RetriesExhaustedError. 0 means no retry. Default DefaultRetries.
func WithRetries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return invalidOption("WithRetries(%d): negative", n)
		}
		c.retries = n
		return nil
	}
}

// WithBackoff sets the bounds of the jittered exponential backoff between retries:
// the k-th wait is a random duration in [d/2, d] with d = min(maximum, minimum<<k).
// Defaults DefaultMinBackoff and DefaultMaxBackoff.
func WithBackoff(minimum, maximum time.Duration) Option {
	return func(c *config) error {
		if minimum < 0 || maximum < minimum {
			return invalidOption("WithBackoff(%v, %v): need 0 <= minimum <= maximum", minimum, maximum)
		}
		c.minBackoff, c.maxBackoff = minimum, maximum
		return nil
	}
}

// WithCache keeps the last size aggregates handled (state, revision, processed
// command set, recent events) in memory; DefaultCacheSize by default, 0 turns the
// cache off. A duplicate found in a cached set is answered without I/O; a new
// command on a cached aggregate costs one append, however long its stream. A cache
// made stale by another process is caught by the Exact append, which fails and
// makes the handler catch the cached aggregate up (reading only the events after
// its revision, into a copy); an outcome that writes nothing is confirmed on the
// stored state first (G4).
//
// Memory: each cached aggregate holds its state, its last 64 events and, on a store
// that finds events by id (SQLite, PostgreSQL, memory), at most its last 256
// processed commands (about 40 KiB with 36-byte ids); on EventStoreDB its whole
// processed set (bound it with WithDedupeWindow).
func WithCache(size int) Option {
	return func(c *config) error {
		if size < 0 {
			return invalidOption("WithCache(%d): negative", size)
		}
		c.cacheSize = size
		return nil
	}
}

// WithSnapshots keeps snapshots in store (sqlitesnap, pgsnap, or another event
// store) instead of the handler's own event store. By default a handler whose event
// store keeps snapshots beside its events (it implements eventstore.SnapshotStore,
// as SQLite, PostgreSQL and memory do) snapshots there: an aggregate is loaded from
// its latest snapshot and the events after it, so loading does not grow with the
// stream (G7). A snapshot holds the state, encoded with the codec's serializer,
// and, for stores that cannot find a command's events by id, the processed command
// set. It is saved after the append that makes it due; a failed save is logged, not
// returned: the command's events are already stored.
func WithSnapshots(store eventstore.SnapshotStore) Option {
	return func(c *config) error {
		if store == nil {
			return invalidOption("WithSnapshots(nil)")
		}
		c.snapshots, c.noSnapshots = store, false
		return nil
	}
}

// WithoutSnapshots turns snapshots off: every load reads the whole stream.
func WithoutSnapshots() Option {
	return func(c *config) error {
		c.snapshots, c.noSnapshots = nil, true
		return nil
	}
}

// WithSnapshotEvery sets how many events an aggregate gains between two snapshots.
// Default DefaultSnapshotEvery.
func WithSnapshotEvery(events int) Option {
	return func(c *config) error {
		if events < 1 {
			return invalidOption("WithSnapshotEvery(%d): need at least 1", events)
		}
		c.snapshotEvery = events
		return nil
	}
}

// WithSnapshotVersion sets the version of the state's encoding in snapshots. Change
// it when the state type changes shape: snapshots of other versions are ignored and
// the state is rebuilt from events. Default 0.
func WithSnapshotVersion(version int) Option {
	return func(c *config) error {
		c.snapshotVersion = version
		return nil
	}
}

// WithDedupeWindow bounds the processed command set (G7) to the last count
// commands of each aggregate. By default the window is unlimited: every command id
// is kept for the life of the stream. On a store that finds events by id (SQLite,
// PostgreSQL, memory) an id outside the window is still found there, by its first
// event's id: the window bounds what is held in memory and in snapshots, not
// dedupe. On a store that cannot (EventStoreDB), a duplicate older than the window
// is decided afresh, so it is caught only by the aggregate's business keys (Decide
// returning aggregate.AlreadyDone): bound the window there only where every command
// is idempotent by business key. See docs/dedupe-policy.md.
func WithDedupeWindow(count int) Option {
	return func(c *config) error {
		if count < 1 {
			return invalidOption("WithDedupeWindow(%d): need at least 1", count)
		}
		c.windowCount = count
		return nil
	}
}

// WithDedupeMaxAge bounds the processed command set (G7) to the commands recorded
// within age of the handler's clock. As with WithDedupeWindow, older ids are still
// found by lookup on a store that finds events by id, and fall back to business
// keys on one that cannot.
func WithDedupeMaxAge(age time.Duration) Option {
	return func(c *config) error {
		if age <= 0 {
			return invalidOption("WithDedupeMaxAge(%v): need a positive age", age)
		}
		c.windowAge = age
		return nil
	}
}

// WithRecordedRejections writes a RejectedEventType marker event, holding the error
// text, for each command the decider rejects, so that its retry gets the same
// rejection even after the state changed. By default (G6) a rejection writes
// nothing and its retry is decided afresh: cheaper, and right when the retry should
// succeed once the state allows it. The marker costs a write per rejection and
// lengthens the stream.
func WithRecordedRejections() Option {
	return func(c *config) error { c.recordRejections = true; return nil }
}

// WithRecordedNoOps writes a NoOpEventType marker event for each command that
// decides no events, so its retry is a duplicate even after the state changed. By
// default (G6) a no-op writes nothing.
func WithRecordedNoOps() Option {
	return func(c *config) error { c.recordNoOps = true; return nil }
}

// WithLogger sets the logger for retries, exhausted budgets and failed snapshot
// saves; slog.Default() by default, as everywhere in idem.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalidOption("WithLogger(nil)")
		}
		c.logger = l
		return nil
	}
}

// WithClock sets the handler's clock, time.Now by default. It stamps snapshots,
// reservation claims and the dedupe window's age; it never reaches the decider and
// the event store stamps RecordedAt itself.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return invalidOption("WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

// WithReservations sets where the keys of Decider.Keys are claimed. By default a
// handler whose decider has Keys claims them in its own event store.
func WithReservations(r *reservation.Reservations) Option {
	return func(c *config) error {
		if r == nil {
			return invalidOption("WithReservations(nil)")
		}
		c.reservations = r
		return nil
	}
}

// WithMeterProvider sets where the handler's metrics go; by default the OTel global
// provider, a no-op until the application installs an SDK. See
// docs/observability.md for the instruments.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return invalidOption("WithMeterProvider(nil)")
		}
		c.telemetry.Meter = mp
		return nil
	}
}

// WithTracerProvider sets where the handler's spans go (a span per command, with
// children for load, decide and append); by default the OTel global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return invalidOption("WithTracerProvider(nil)")
		}
		c.telemetry.Tracer = tp
		return nil
	}
}

// WithMaxAppendSize sets the most bytes of one command's payload encoding, and of
// the events it decides (type, data and metadata together): larger ones are
// refused before they are encoded whole or sent to the store (G11). The default,
// eventstore.DefaultMaxAppendSize, is the stores' default limit; set it to your
// store's limit if you raised that.
func WithMaxAppendSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalidOption("WithMaxAppendSize(%d): need at least 1 byte", n)
		}
		c.maxAppendSize = n
		return nil
	}
}
