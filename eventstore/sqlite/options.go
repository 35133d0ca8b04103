package sqlite

import (
	"log/slog"
	"time"

	"github.com/idemkit/idem/eventstore"
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
)

// Option configures Open.
type Option func(*config)

type config struct {
	sync          SyncMode
	busyTimeout   time.Duration
	maxAppendSize int
	pollInterval  time.Duration
	logger        *slog.Logger
	now           func() time.Time
	maxBatch      int
}

func defaultConfig() config {
	return config{
		sync:          Full,
		busyTimeout:   DefaultBusyTimeout,
		maxAppendSize: eventstore.DefaultMaxAppendSize,
		pollInterval:  DefaultPollInterval,
		logger:        slog.New(slog.DiscardHandler),
		now:           time.Now,
		maxBatch:      256,
	}
}

// Synchronous sets the synchronous mode of the store's writes; Full by default.
// See Normal for what it risks.
func Synchronous(m SyncMode) Option {
	return func(c *config) {
		if m == Full || m == Normal {
			c.sync = m
		}
	}
}

// BusyTimeout sets how long a write waits for SQLite's write lock when another
// connection (another process, or another Store on the same file) holds it;
// DefaultBusyTimeout by default. An append that could not get the lock in time
// fails with an error matching eventstore.ErrUnavailable and writes nothing.
func BusyTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.busyTimeout = d
		}
	}
}

// MaxAppendSize sets the limit on the bytes of one append (the sum of every event's
// type, data and metadata); n <= 0 keeps eventstore.DefaultMaxAppendSize.
func MaxAppendSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxAppendSize = n
		}
	}
}

// PollInterval sets how often a live subscription looks for events written by
// other processes (appends through the same Store wake it at once);
// DefaultPollInterval by default.
func PollInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.pollInterval = d
		}
	}
}

// Logger sets the logger for the store's rare operational messages (migrations,
// failed commits). By default nothing is logged.
func Logger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// Clock sets the clock that stamps RecordedAt; time.Now by default. Times are stored
// with nanosecond precision and read back in UTC.
func Clock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// MaxBatch caps how many appends a batch commits in one transaction (default
// 256); n <= 0 keeps the default. 1 disables group commit.
func MaxBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBatch = n
		}
	}
}
