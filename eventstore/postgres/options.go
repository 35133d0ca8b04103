package postgres

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/pgident"
	"github.com/idemkit/idem/internal/quote"
)

// Defaults of the options.
const (
	// DefaultSchema is the PostgreSQL schema the store's tables live in unless
	// WithSchema says otherwise.
	DefaultSchema = "idem"
	// DefaultPollInterval is how often a live subscription looks for new events when
	// no notification woke it (WithPollInterval).
	DefaultPollInterval = time.Second
	// DefaultTimeout bounds one append batch: waiting for a connection, running the
	// batch and its commit (WithTimeout).
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBatch is how many appends one transaction commits at most
	// (WithMaxBatch).
	DefaultMaxBatch = 256
)

// Option configures Open and New. An option given a value it cannot use makes the
// constructor fail, before any connection, with an error matching
// eventstore.ErrInvalidOption, as every store's constructor does.
type Option func(*config) error

type config struct {
	schema        string
	maxAppendSize int
	pollInterval  time.Duration
	timeout       time.Duration
	maxBatch      int
	logger        *slog.Logger
	meter         metric.MeterProvider
	now           func() time.Time
	listen        bool
}

func defaultConfig() config {
	return config{
		schema:        DefaultSchema,
		maxAppendSize: eventstore.DefaultMaxAppendSize,
		pollInterval:  DefaultPollInterval,
		timeout:       DefaultTimeout,
		maxBatch:      DefaultMaxBatch,
		logger:        slog.Default(),
		now:           time.Now,
		listen:        true,
	}
}

func invalidOption(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{eventstore.ErrInvalidOption}, args...)...)
}

// WithSchema keeps the store's tables in the PostgreSQL schema name, created if
// missing: several idem stores (of several services, or tests) can share one
// database, each in its own schema. The name is an identifier of 1 to 63 ASCII
// letters, digits and underscores, not starting with a digit or "pg_";
// DefaultSchema by default.
func WithSchema(name string) Option {
	return func(c *config) error {
		if err := pgident.Check(name); err != nil {
			return invalidOption("WithSchema(%s): %v", quote.Q(name), err)
		}
		c.schema = name
		return nil
	}
}

// WithMaxAppendSize sets the limit on the bytes of one append (the sum of every
// event's type, data and metadata); eventstore.DefaultMaxAppendSize by default.
func WithMaxAppendSize(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return invalidOption("WithMaxAppendSize(%d): need a positive size", n)
		}
		c.maxAppendSize = n
		return nil
	}
}

// WithPollInterval sets how often a live subscription reads the log when no
// notification woke it: the fallback for a lost LISTEN connection or a NOTIFY
// that never came (appends by another tool). DefaultPollInterval by default.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalidOption("WithPollInterval(%v): need a positive interval", d)
		}
		c.pollInterval = d
		return nil
	}
}

// WithTimeout bounds one append batch, from waiting for a free connection to the
// commit's answer, and every read's wait for a free connection. An append that
// runs out of it fails with an error matching eventstore.ErrUnavailable (its
// outcome is unknown; retrying it with the same ids is safe, G2); a wait for a
// connection that runs out of it fails with one matching ErrPoolExhausted too.
// DefaultTimeout by default.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalidOption("WithTimeout(%v): need a positive duration", d)
		}
		c.timeout = d
		return nil
	}
}

// WithMaxBatch caps how many appends of this Store share one transaction (group
// commit, see the package doc); DefaultMaxBatch by default. 1 disables group
// commit: every append is a transaction of its own.
func WithMaxBatch(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalidOption("WithMaxBatch(%d): need at least 1", n)
		}
		c.maxBatch = n
		return nil
	}
}

// WithLogger sets the logger for the store's rare operational messages (schema
// migrations, failed batches, a lost LISTEN connection); slog.Default() by
// default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalidOption("WithLogger(nil)")
		}
		c.logger = l
		return nil
	}
}

// WithMeterProvider sets where the store's commit metrics go
// (idem.store.commit.duration and idem.store.commit.appends, with idem.backend
// "postgres"; see docs/observability.md); by default the OTel global provider, a
// no-op until the application installs an SDK.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return invalidOption("WithMeterProvider(nil)")
		}
		c.meter = mp
		return nil
	}
}

// WithClock sets the clock that stamps RecordedAt; time.Now by default. PostgreSQL
// keeps microseconds: times are read back truncated to them, in UTC.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return invalidOption("WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

// WithoutNotifications turns LISTEN/NOTIFY off: live subscriptions see appends of
// this Store at once and every other append within the poll interval, and no
// connection is kept for LISTEN. For poolers that cannot LISTEN (PgBouncer in
// transaction mode).
func WithoutNotifications() Option {
	return func(c *config) error {
		c.listen = false
		return nil
	}
}
