package projection

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/idemkit/idem/internal/telemetry"
)

// Option configures NewRunner. An option given a value out of its range makes
// NewRunner fail with an error matching ErrInvalidOption.
type Option func(*settings) error

// settings are a runner's options, defaults applied.
type settings struct {
	batchSize        int
	catchUpBatchSize int
	retries          int
	backoff          time.Duration
	maxBackoff       time.Duration
	logger           *slog.Logger
	progress         func(Progress)
	progressEvery    time.Duration
	lagEvery         time.Duration
	lagRefresh       bool
	lagLimit         int
	telemetry        telemetry.Providers
}

// Defaults of the options.
const (
	DefaultBatchSize        = 256
	DefaultCatchUpBatchSize = 4096
	DefaultRetries          = 3
	DefaultBackoff          = 20 * time.Millisecond
	DefaultMaxBackoff       = time.Second
	DefaultProgressInterval = time.Second
	DefaultLagInterval      = time.Second
	DefaultLagLimit         = 10000
)

func newSettings(opts []Option) (settings, error) {
	s := settings{
		batchSize:        DefaultBatchSize,
		catchUpBatchSize: DefaultCatchUpBatchSize,
		retries:          DefaultRetries,
		backoff:          DefaultBackoff,
		maxBackoff:       DefaultMaxBackoff,
		logger:           slog.Default(),
		progressEvery:    DefaultProgressInterval,
		lagEvery:         DefaultLagInterval,
		lagRefresh:       true,
		lagLimit:         DefaultLagLimit,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&s); err != nil {
			return s, err
		}
	}
	return s, nil
}

func invalidOption(name string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, name, fmt.Sprintf(format, args...))
}

// WithBatchSize sets the most events applied in one transaction in live mode,
// n >= 1 (DefaultBatchSize). A live batch commits as soon as no more events are
// immediately available, so latency stays low.
func WithBatchSize(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return invalidOption("WithBatchSize", "%d, want 1 or more", n)
		}
		s.batchSize = n
		return nil
	}
}

// WithCatchUpBatchSize sets the events applied in one transaction while catching
// up, rebuilding or replaying, n >= 1 (DefaultCatchUpBatchSize). Batches are filled
// up to it, as the history is there to read: large batches make rebuilds fast (few
// commits, each page of the read model written once per batch); a crash loses at
// most one batch of work, which is then applied again (G8).
func WithCatchUpBatchSize(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return invalidOption("WithCatchUpBatchSize", "%d, want 1 or more", n)
		}
		s.catchUpBatchSize = n
		return nil
	}
}

// WithRetries sets how many times an event whose handler failed is tried again,
// with backoff, before its poison policy applies; 0 means no retry
// (DefaultRetries). Failures of the target are retried as many times.
func WithRetries(n int) Option {
	return func(s *settings) error {
		if n < 0 {
			return invalidOption("WithRetries", "%d, want 0 or more", n)
		}
		s.retries = n
		return nil
	}
}

// WithBackoff sets the wait before the first retry, min, doubled at each retry up
// to max (DefaultBackoff, DefaultMaxBackoff); 0 < min <= max.
func WithBackoff(min, max time.Duration) Option {
	return func(s *settings) error {
		if min <= 0 || max < min {
			return invalidOption("WithBackoff", "%v to %v, want 0 < min <= max", min, max)
		}
		s.backoff, s.maxBackoff = min, max
		return nil
	}
}

// WithLogger sets the logger of the runner (slog.Default() by default).
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return invalidOption("WithLogger", "nil logger")
		}
		s.logger = l
		return nil
	}
}

// WithProgress sets a function called while a projection catches up or rebuilds,
// at most every progress interval (WithProgressInterval), and once when it has
// caught up. It is called from the runner's goroutines, one projection at a time
// per goroutine: it must be safe for concurrent use and return quickly.
func WithProgress(f func(Progress)) Option {
	return func(s *settings) error {
		if f == nil {
			return invalidOption("WithProgress", "nil function")
		}
		s.progress = f
		return nil
	}
}

// WithProgressInterval sets how often progress is reported and logged, d > 0
// (DefaultProgressInterval).
func WithProgressInterval(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return invalidOption("WithProgressInterval", "%v, want more than 0", d)
		}
		s.progressEvery = d
		return nil
	}
}

// WithLagInterval sets how often Run refreshes the head and lag figures of Stats,
// d > 0 (DefaultLagInterval). Each refresh reads the log after every checkpoint,
// up to the lag limit.
func WithLagInterval(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return invalidOption("WithLagInterval", "%v, want more than 0", d)
		}
		s.lagEvery = d
		s.lagRefresh = true
		return nil
	}
}

// WithoutLagRefresh stops Run from refreshing the lag figures of Stats
// periodically; CatchUp still refreshes them once when it returns, and Status
// always counts afresh.
func WithoutLagRefresh() Option {
	return func(s *settings) error {
		s.lagRefresh = false
		return nil
	}
}

// WithLagLimit caps the events counted behind a checkpoint, n >= 1
// (DefaultLagLimit): lag is counted by reading the log, so the cap bounds the cost
// of a refresh.
func WithLagLimit(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return invalidOption("WithLagLimit", "%d, want 1 or more", n)
		}
		s.lagLimit = n
		return nil
	}
}

// batchSize is the most events of one transaction in mode.
func (s *settings) sizeFor(mode Mode) int {
	if mode == Live {
		return s.batchSize
	}
	return s.catchUpBatchSize
}

// backoffFor is the wait before retry number attempt (1, 2, ...).
func (s *settings) backoffFor(attempt int) time.Duration {
	d := s.backoff
	for i := 1; i < attempt && d < s.maxBackoff; i++ {
		d *= 2
	}
	return min(d, s.maxBackoff)
}

// WithMeterProvider sets where the runner's metrics go; by default the OTel global
// provider, a no-op until the application installs an SDK. See
// docs/observability.md for the instruments.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *settings) error {
		if mp == nil {
			return invalidOption("WithMeterProvider", "nil provider")
		}
		s.telemetry.Meter = mp
		return nil
	}
}

// WithTracerProvider sets where the runner's spans go (a span per batch of a
// projection and per event of a reactor, linked to the commands that wrote the
// events); by default the OTel global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *settings) error {
		if tp == nil {
			return invalidOption("WithTracerProvider", "nil provider")
		}
		s.telemetry.Tracer = tp
		return nil
	}
}
