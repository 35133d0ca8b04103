package sqlite

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/telemetry"
	"go.opentelemetry.io/otel/metric"
)

// SyncMode is SQLite's synchronous setting for the store's writes.
type SyncMode int

const (
	// Full (the default) syncs the WAL on every commit: an acknowledged append
	// survives a process crash, an OS crash and a power loss.
	Full SyncMode = iota
	// Normal syncs the WAL only at checkpoints. The database is never corrupted, and
	// a process crash loses nothing acknowledged; but an OS crash or a power loss
	// can lose the last acknowledged transactions (appends the caller was told
	// succeeded). Use it only when such appends can be recreated, for example by
	// retrying commands (G2, G3).
	Normal
)

// String returns the pragma value: "FULL" or "NORMAL".
func (m SyncMode) String() string {
	if m == Normal {
		return "NORMAL"
	}
	return "FULL"
}

// Defaults of the options.
const (
	DefaultBusyTimeout  = 5 * time.Second
	DefaultPollInterval = 100 * time.Millisecond
	DefaultMaxBatch     = 256
)

// Option configures Open. An option given a value it cannot use makes Open fail
// with eventstore.ErrInvalidOption.
type Option func(*config) error

type config struct {
	sync          SyncMode
	busyTimeout   time.Duration
	maxAppendSize int
	pollInterval  time.Duration
	logger        *slog.Logger
	now           func() time.Time
	maxBatch      int
	telemetry     telemetry.Providers
}

func defaultConfig() config {
	return config{
		sync:          Full,
		busyTimeout:   DefaultBusyTimeout,
		maxAppendSize: eventstore.DefaultMaxAppendSize,
		pollInterval:  DefaultPollInterval,
		logger:        slog.Default(),
		now:           time.Now,
		maxBatch:      DefaultMaxBatch,
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{eventstore.ErrInvalidOption}, args...)...)
}

// WithSynchronous sets the synchronous mode of the store's writes; Full by
// default. See Normal for what it risks.
func WithSynchronous(m SyncMode) Option {
	return func(c *config) error {
		if m != Full && m != Normal {
			return invalid("WithSynchronous(%d): not Full or Normal", m)
		}
		c.sync = m
		return nil
	}
}

// WithBusyTimeout sets how long a write waits for SQLite's write lock when another
// connection (another process, or another Store on the same file) holds it;
// DefaultBusyTimeout by default. An append that could not get the lock in time
// fails with an error matching eventstore.ErrUnavailable and writes nothing.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithBusyTimeout(%v): need a positive duration", d)
		}
		c.busyTimeout = d
		return nil
	}
}

// WithMaxAppendSize sets the limit on the bytes of one append (the sum of every
// event's type, data and metadata); eventstore.DefaultMaxAppendSize by default.
func WithMaxAppendSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("WithMaxAppendSize(%d): need at least 1 byte", n)
		}
		c.maxAppendSize = n
		return nil
	}
}

// WithPollInterval sets how often a live subscription looks for events written by
// other processes (appends through the same Store wake it at once);
// DefaultPollInterval by default.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithPollInterval(%v): need a positive duration", d)
		}
		c.pollInterval = d
		return nil
	}
}

// WithLogger sets the logger for the store's rare operational messages
// (migrations, failed commits); slog.Default() by default, as everywhere in idem.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalid("WithLogger(nil)")
		}
		c.logger = l
		return nil
	}
}

// WithClock sets the clock that stamps RecordedAt; time.Now by default. Times are
// stored with nanosecond precision and read back in UTC.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return invalid("WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

// WithMaxBatch caps how many appends a batch commits in one transaction;
// DefaultMaxBatch by default, 1 turns group commit off.
func WithMaxBatch(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("WithMaxBatch(%d): need at least 1", n)
		}
		c.maxBatch = n
		return nil
	}
}

// WithMeterProvider sets where the store's metrics go (commit duration, appends
// per commit); by default the OTel global provider (see docs/observability.md).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return invalid("WithMeterProvider(nil)")
		}
		c.telemetry.Meter = mp
		return nil
	}
}
