package esdbtest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// DefaultMaxAppendSize is the emulated server's limit on one append, counted as the
// server does (Event.SizeOnDisk: data + metadata + 2 × the type's length): 1 MiB, the
// default of EventStoreDB up to 24.10 and KurrentDB 25.0.
const DefaultMaxAppendSize = 1 << 20

// DefaultIdempotencyCacheBytes is the budget of the emulated committed-events cache
// that makes appends with Any and StreamExists idempotent (best effort): 8 MiB, as
// KurrentDB's ESConsts.CommittedEventsMemCacheLimit.
const DefaultIdempotencyCacheBytes = 8 << 20

// Option configures a Server.
type Option func(*config)

type config struct {
	maxAppendSize   int
	version         string
	cacheBytes      int
	systemEventsGap int
}

// WithMaxAppendSize sets the server's append size limit (DefaultMaxAppendSize by
// default; KurrentDB 25.1 and later default to 256 MiB).
func WithMaxAppendSize(n int) Option { return func(c *config) { c.maxAppendSize = n } }

// WithServerVersion sets the version ServerFeatures reports ("24.10.0" by default).
func WithServerVersion(v string) Option { return func(c *config) { c.version = v } }

// WithIdempotencyCacheBytes sets the budget of the FIFO committed-events cache used
// for Any and StreamExists idempotency. Small values make evictions, and so the
// duplicates a real server writes after them, easy to provoke.
func WithIdempotencyCacheBytes(n int) Option { return func(c *config) { c.cacheBytes = n } }

// WithSystemEvents makes the server write a system event ($statsCollected to its
// stats stream, "$stats-<host:port>" as on a real node) after every n user appends
// (2 by default; 0 turns it off), so that clients must filter system events out of
// $all, as on a real server. The real server writes one every 30 seconds instead;
// counting appends keeps tests deterministic.
func WithSystemEvents(n int) Option { return func(c *config) { c.systemEventsGap = n } }

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg config
	lis net.Listener
	gs  *grpc.Server
	log *eventLog

	closeOnce sync.Once
	serveErr  chan error
}

// Start starts a Server on 127.0.0.1 with a random port and closes it when the test
// ends. It fails the test if the server cannot start.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Listen(opts...)
	if err != nil {
		t.Fatalf("esdbtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Listen starts a Server on 127.0.0.1 with a random port. The caller must Close it.
func Listen(opts ...Option) (*Server, error) {
	cfg := config{
		maxAppendSize:   DefaultMaxAppendSize,
		version:         "24.10.0",
		cacheBytes:      DefaultIdempotencyCacheBytes,
		systemEventsGap: 2,
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	s := &Server{cfg: cfg, lis: lis, log: newEventLog(cfg, lis.Addr().String()), serveErr: make(chan error, 1)}
	s.gs = grpc.NewServer(
		grpc.MaxRecvMsgSize(16<<20),
		// The client pings every 10 s; grpc-go's default policy (5 min) answers with
		// GOAWAY too_many_pings after about 30 s, dropping every subscription.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	streams.RegisterStreamsServer(s.gs, &streamsService{log: s.log})
	serverfeatures.RegisterServerFeaturesServer(s.gs, &featuresService{version: cfg.version})
	go func() { s.serveErr <- s.gs.Serve(lis) }()
	return s, nil
}

// Addr is the server's "host:port".
func (s *Server) Addr() string { return s.lis.Addr().String() }

// URL is a connection string for the server: "esdb://127.0.0.1:PORT?tls=false".
func (s *Server) URL() string { return "esdb://" + s.Addr() + "?tls=false" }

// Close stops the server at once: running calls and subscriptions end with an
// Unavailable error on the client. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.log.close()
		s.gs.Stop()
		<-s.serveErr // Serve returns once stopped; its error says only that.
	})
}

// DropSubscriptions ends every running subscription with gRPC Unavailable, as a lost
// connection does. Subscriptions started afterwards are unaffected.
func (s *Server) DropSubscriptions() { s.log.dropSubscriptions() }

// FailNextAppend makes the next append fail with gRPC Unavailable before it is
// checked or committed: nothing is written.
func (s *Server) FailNextAppend() { s.log.setFault(faultBeforeCommit) }

// FailNextAppendAfterCommit makes the next append that commits fail with gRPC
// Unavailable after it is committed: the events are written but the client never
// hears so (a lost acknowledgement).
func (s *Server) FailNextAppendAfterCommit() { s.log.setFault(faultAfterCommit) }

// Appends counts the appends that wrote events (idempotent retries write nothing and
// are not counted).
func (s *Server) Appends() int { return s.log.appendCount() }

// StatsStream is the stream the server writes its $statsCollected events to:
// "$stats-<host:port>", named after the node's address as a real node names it after
// its HTTP endpoint ("$stats-0.0.0.0:2113" in a default container). Its metastream,
// "$$" + StatsStream(), holds a $maxAge of 10 days and is the first record of $all.
func (s *Server) StatsStream() string { return s.log.stats }

// StreamLen is the number of events written to stream (including soft-deleted ones),
// or 0 if it has none.
func (s *Server) StreamLen(stream string) int { return s.log.streamLen(stream) }

// featuresService answers ServerFeatures.GetSupportedMethods, which the client calls
// when it connects; its version gates nothing idem uses.
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
	version string
}
