// Package esdb is an eventstore.Store on EventStoreDB / KurrentDB, through the gRPC
// client github.com/EventStore/EventStore-Client-Go/v4 (v4.2.0).
//
// What it keeps of the eventstore contract, and how:
//
//   - Every event is sent with its own id, so the server's id-based idempotency
//     (G2) applies. It is strong with Exact and NoStream, which idem's command
//     handler always uses; with Any and StreamExists it is the server's best effort
//     (a bounded in-memory cache of recent ids).
//   - A wrong expected revision fails with *eventstore.WrongExpectedRevisionError
//     whose Actual is parsed from the client's message ("got 'N'" or
//     "got 'no_stream'"), or read from the stream when the text cannot be parsed.
//   - Positions are the server's (commit, prepare) pair: transaction-log byte
//     offsets, increasing but never contiguous.
//   - System streams and events (names and types starting with "$") never appear in
//     ReadAll, SubscribeAll or Head.
//   - Appends over idem's MaxAppendSize (type + data + metadata), or over the
//     server's limit counted as the server counts (data + metadata + 2 × the type's
//     UTF-16 length; ServerMaxAppendSize, 1 MiB by default as up to KurrentDB 25.0,
//     which 25.1 raised to 256 MiB), are refused before anything is sent, with
//     *eventstore.AppendTooLargeError: nothing is half-written.
//   - SubscribeAll starts where asked (the client's own default is the end; idem's
//     is the start), reports CaughtUp once, and after a dropped connection
//     resubscribes from the last position it saw, with backoff: no gap, no repeat.
package esdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/idemkit/idem/eventstore"
)

// Option configures a Store. An option given a value it cannot use makes Open fail
// with eventstore.ErrInvalidOption.
type Option func(*options) error

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{eventstore.ErrInvalidOption}, args...)...)
}

type options struct {
	maxAppendSize       int
	serverMaxAppendSize int
	logger              *slog.Logger
	backoffMin          time.Duration
	backoffMax          time.Duration
	configure           func(*esdbclient.Configuration)
}

// WithMaxAppendSize sets idem's limit on one append, counted as every idem store
// counts it: the sum of each event's type, data and metadata
// (eventstore.DefaultMaxAppendSize, 1 MiB, by default). Larger appends fail with
// *eventstore.AppendTooLargeError.
func WithMaxAppendSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalid("WithMaxAppendSize(%d): need at least 1 byte", n)
		}
		o.maxAppendSize = n
		return nil
	}
}

// DefaultServerMaxAppendSize is the server's default MaxAppendSize up to KurrentDB
// 25.0 (EventStoreDB 24.10 and earlier included): 1 MiB. KurrentDB 25.1 raised it to
// 256 MiB.
const DefaultServerMaxAppendSize = 1 << 20

// WithServerMaxAppendSize tells the store the server's MaxAppendSize
// (DefaultServerMaxAppendSize by default). Appends over it, counted as the server
// counts (data + metadata + 2 × the type's UTF-16 length, KurrentDB Event.SizeOnDisk),
// are refused before anything is sent, with *eventstore.AppendTooLargeError. Because
// the server counts types twice, an append of exactly MaxAppendSize bytes can exceed
// a server limit of the same number: leave headroom (see docs/backends.md).
func WithServerMaxAppendSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalid("WithServerMaxAppendSize(%d): need at least 1 byte", n)
		}
		o.serverMaxAppendSize = n
		return nil
	}
}

// WithLogger sets where the store and the client log (slog.Default() by default).
// The client's messages are logged at Debug, its warnings and errors at Warn.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return invalid("WithLogger(nil)")
		}
		o.logger = l
		return nil
	}
}

// WithResubscribeBackoff sets the delay before resubscribing after a dropped
// subscription: it starts at minimum and doubles up to maximum (100 ms and 5 s by
// default).
func WithResubscribeBackoff(minimum, maximum time.Duration) Option {
	return func(o *options) error {
		if minimum <= 0 || maximum < minimum {
			return invalid("WithResubscribeBackoff(%v, %v): need 0 < minimum <= maximum", minimum, maximum)
		}
		o.backoffMin, o.backoffMax = minimum, maximum
		return nil
	}
}

// WithClientConfiguration lets the caller adjust the client configuration parsed
// from the connection string (root CAs, deadlines, keepalive) before the client is
// built.
func WithClientConfiguration(f func(*esdbclient.Configuration)) Option {
	return func(o *options) error {
		if f == nil {
			return invalid("WithClientConfiguration(nil)")
		}
		o.configure = f
		return nil
	}
}

// Store is an eventstore.Store on EventStoreDB / KurrentDB. It is safe for
// concurrent use.
type Store struct {
	cfg  esdbclient.Configuration
	opts options

	mu     sync.Mutex
	client *esdbclient.Client
	closed bool

	done      chan struct{} // closed by Close: ends subscriptions with ErrClosed
	closeOnce sync.Once
}

var (
	_ eventstore.Store      = (*Store)(nil)
	_ eventstore.HeadReader = (*Store)(nil)
)

// Open returns a Store for the server named by connectionString, in the client's
// format: "esdb://host:2113?tls=false", "esdb://user:pass@host:2113" (TLS, with
// credentials), "esdb+discover://..." for a cluster; see the client's documentation
// for every setting. Credentials are only sent over TLS (the client drops them
// otherwise). The client connects lazily: Open fails only on a malformed connection
// string; an unreachable server shows as eventstore.ErrUnavailable on first use.
func Open(ctx context.Context, connectionString string, opts ...Option) (*Store, error) {
	o := options{
		maxAppendSize:       eventstore.DefaultMaxAppendSize,
		serverMaxAppendSize: DefaultServerMaxAppendSize,
		logger:              slog.Default(),
		backoffMin:          100 * time.Millisecond,
		backoffMax:          5 * time.Second,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open eventstoredb: %w", err)
	}
	cfg, err := esdbclient.ParseConnectionString(connectionString)
	if err != nil {
		return nil, fmt.Errorf("open eventstoredb: parse connection string: %w", err)
	}
	cfg.Logger = clientLogger(o.logger)
	if o.configure != nil {
		o.configure(cfg)
	}
	s := &Store{cfg: *cfg, opts: o, done: make(chan struct{})}
	if _, err := s.currentClient(); err != nil {
		return nil, fmt.Errorf("open eventstoredb: %w", err)
	}
	return s, nil
}

// currentClient returns the client, building one if there is none.
func (s *Store) currentClient() (*esdbclient.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	if s.client == nil {
		cfg := s.cfg
		c, err := esdbclient.NewClient(&cfg)
		if err != nil {
			return nil, err
		}
		s.client = c
	}
	return s.client, nil
}

// resetClient drops c if it is still the current client: after a failed discovery
// the client is closed for good and answers every call with ConnectionClosed.
func (s *Store) resetClient(c *esdbclient.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == c {
		s.client = nil
		_ = c.Close()
	}
}

// withClient runs f with the current client. When the client turns out to be closed
// (ConnectionClosed, returned before anything is sent), it builds a new one and runs
// f once more.
func (s *Store) withClient(f func(*esdbclient.Client) error) error {
	for attempt := 0; ; attempt++ {
		c, err := s.currentClient()
		if err != nil {
			return err
		}
		err = f(c)
		if attempt == 0 && isCode(err, esdbclient.ErrorCodeConnectionClosed) && !s.isClosed() {
			s.resetClient(c)
			continue
		}
		return err
	}
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close closes the client. Later calls fail with eventstore.ErrClosed and running
// subscriptions end with it.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		c := s.client
		s.client = nil
		s.mu.Unlock()
		close(s.done)
		if c != nil {
			_ = c.Close()
		}
	})
	return nil
}

// clientLogger routes the client's log lines to l.
func clientLogger(l *slog.Logger) esdbclient.LoggingFunc {
	return func(level esdbclient.LogLevel, format string, args ...any) {
		lvl := slog.LevelDebug
		if level == esdbclient.LogWarn || level == esdbclient.LogError {
			lvl = slog.LevelWarn
		}
		if !l.Enabled(context.Background(), lvl) {
			return
		}
		l.Log(context.Background(), lvl, "eventstoredb client: "+fmt.Sprintf(format, args...))
	}
}

// errClosedOr returns ErrClosed when the store was closed, else err.
func (s *Store) errClosedOr(err error) error {
	if s.isClosed() && !errors.Is(err, eventstore.ErrClosed) {
		return eventstore.ErrClosed
	}
	return err
}
