package postgres_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// newPool makes a pool on the test server, adjusted by edit, closed when t ends.
func newPool(t *testing.T, edit func(c *pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	if edit != nil {
		edit(cfg)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// newStore makes a Store over pool in a new schema, closed when t ends.
func newStore(t *testing.T, pool *pgxpool.Pool, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.New(t.Context(), pool, append([]postgres.Option{postgres.WithSchema(pgtest.Schema(t)), postgres.WithLogger(pgtest.Logger)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newEvent(typ string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(`{}`)}
}

// holdPositionLock takes the store's position lock from a connection of its own,
// as a stuck writer would, and returns the function that lets it go.
func holdPositionLock(t *testing.T, s *postgres.Store) (release func()) {
	t.Helper()
	conn, err := s.Pool().Acquire(t.Context())
	require.NoError(t, err)
	k1, k2 := postgres.PositionLockKeys(s.Schema())
	_, err = conn.Exec(t.Context(), "SELECT pg_advisory_lock($1, $2)", k1, k2)
	require.NoError(t, err)
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1, $2)", k1, k2)
			require.NoError(t, err)
			conn.Release()
		})
	}
	t.Cleanup(release)
	return release
}

// TestStatementTimeoutIsUnavailable: a server-side statement_timeout that cancels
// an append (here, waiting for a position lock another connection holds) fails
// it with eventstore.ErrUnavailable and SQLSTATE 57014; nothing is written, and
// the retry succeeds once the lock is free.
func TestStatementTimeoutIsUnavailable(t *testing.T) {
	ctx := t.Context()
	pool := newPool(t, func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams["statement_timeout"] = "300" })
	s := newStore(t, pool)
	release := holdPositionLock(t, s)
	ev := newEvent("A")
	_, err := s.Append(ctx, "s-1", eventstore.NoStream(), ev)
	require.ErrorIs(t, err, eventstore.ErrUnavailable)
	var pgErr *postgres.Error
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "57014", pgErr.Code)
	release()
	_, err = collect(s.ReadStream(ctx, "s-1", 0))
	require.ErrorIs(t, err, eventstore.ErrStreamNotFound, "nothing was written")
	res, err := s.Append(ctx, "s-1", eventstore.NoStream(), ev)
	require.NoError(t, err)
	require.Equal(t, eventstore.Written, res.Outcome)
}

// TestBatchTimeoutIsUnknownOutcome: a batch that does not answer within
// WithTimeout fails with eventstore.ErrUnavailable (the store gave up waiting; the
// outcome is unknown to the caller); its retry with the same ids stores the event
// exactly once: Written when the server rolled the abandoned batch back (pgx
// cancels the statement it left waiting), Replayed had it committed.
func TestBatchTimeoutIsUnknownOutcome(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, newPool(t, nil), postgres.WithTimeout(300*time.Millisecond))
	release := holdPositionLock(t, s)
	ev := newEvent("A")
	start := time.Now()
	_, err := s.Append(ctx, "s-1", eventstore.NoStream(), ev)
	require.ErrorIs(t, err, eventstore.ErrUnavailable)
	require.Less(t, time.Since(start), 10*time.Second)
	release()
	res, err := s.Append(ctx, "s-1", eventstore.NoStream(), ev)
	require.NoError(t, err)
	require.Contains(t, []eventstore.AppendOutcome{eventstore.Written, eventstore.Replayed}, res.Outcome)
	evs, err := collect(s.ReadStream(ctx, "s-1", 0))
	require.NoError(t, err)
	require.Len(t, evs, 1)
}

// TestPoolExhaustionIsTyped: with every connection of the pool taken, appends and
// reads wait WithTimeout and fail with errors matching ErrPoolExhausted and
// eventstore.ErrUnavailable; a caller whose context ends first gets its context's
// error. Once a connection is free, everything works.
func TestPoolExhaustionIsTyped(t *testing.T) {
	ctx := t.Context()
	pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 1 })
	s := newStore(t, pool, postgres.WithTimeout(200*time.Millisecond))
	held, err := pool.Acquire(ctx)
	require.NoError(t, err)

	_, err = s.Append(ctx, "s-1", eventstore.NoStream(), newEvent("A"))
	require.ErrorIs(t, err, postgres.ErrPoolExhausted)
	require.ErrorIs(t, err, eventstore.ErrUnavailable)
	_, err = collect(s.ReadStream(ctx, "s-1", 0))
	require.ErrorIs(t, err, postgres.ErrPoolExhausted)
	_, err = collect(s.ReadAll(ctx, eventstore.Start()))
	require.ErrorIs(t, err, postgres.ErrPoolExhausted)
	_, err = s.Head(ctx)
	require.ErrorIs(t, err, postgres.ErrPoolExhausted)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = collect(s.ReadStream(short, "s-1", 0))
	require.ErrorIs(t, err, context.DeadlineExceeded, "the caller's own deadline is its error")

	held.Release()
	_, err = s.Append(ctx, "s-1", eventstore.NoStream(), newEvent("A"))
	require.NoError(t, err)
}

// proxy forwards TCP connections to the test server and can cut them: the fault
// of a network that fails while a commit is in flight.
type proxy struct {
	ln     net.Listener
	target string
	// cutReplies, when set, makes the next reply of the server vanish: the proxy
	// drops it and closes the client's connection. The server has received and
	// runs what was sent.
	cutReplies atomic.Bool
	// cutRequests, when set, makes the next request vanish before the server
	// sees it, and closes the client's connection.
	cutRequests atomic.Bool
	wg          sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *proxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.wg.Go(func() { p.pipe(client, server, &p.cutRequests) })
		p.wg.Go(func() { p.pipe(server, client, &p.cutReplies) })
	}
}

// pipe copies from src to dst until either fails; when cut is set as bytes
// arrive, it drops them, clears cut and closes both ends.
func (p *proxy) pipe(src, dst net.Conn, cut *atomic.Bool) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if cut.CompareAndSwap(true, false) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// proxiedStore is a Store whose connections go through a proxy.
func proxiedStore(t *testing.T, opts ...postgres.Option) (*postgres.Store, *proxy) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	p := startProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	pool := newPool(t, func(c *pgxpool.Config) {
		addr := p.ln.Addr().(*net.TCPAddr)
		c.ConnConfig.Host, c.ConnConfig.Port = addr.IP.String(), uint16(addr.Port)
		c.ConnConfig.Fallbacks = nil
		// No liveness ping on acquire: the next bytes after a cut is armed are the
		// append's, however long the connection sat idle.
		c.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	})
	return newStore(t, pool, opts...), p
}

// TestConnectionCutDuringCommitIsUnknownOutcome: the connection is cut while an
// append's batch is in flight, after the server received it (it commits) or
// before (it never runs). Either way the append fails with
// eventstore.ErrUnavailable, and its retry with the same ids is answered from
// what the server did: Replayed with the original position when it committed,
// Written when it did not. Never twice.
func TestConnectionCutDuringCommitIsUnknownOutcome(t *testing.T) {
	ctx := t.Context()
	s, p := proxiedStore(t, postgres.WithMaxBatch(1))
	_, err := s.Append(ctx, "s-1", eventstore.NoStream(), newEvent("First"))
	require.NoError(t, err)

	t.Run("AfterTheServerGotIt", func(t *testing.T) {
		ev := newEvent("Committed")
		p.cutReplies.Store(true)
		_, err := s.Append(ctx, "s-1", eventstore.Exact(0), ev)
		require.ErrorIs(t, err, eventstore.ErrUnavailable)
		// The server commits what it received; wait until it shows.
		require.Eventually(t, func() bool {
			evs, _ := collect(s.ReadStream(ctx, "s-1", 0))
			return len(evs) == 2
		}, 10*time.Second, 20*time.Millisecond)
		res, err := s.Append(ctx, "s-1", eventstore.Exact(0), ev)
		require.NoError(t, err)
		require.Equal(t, eventstore.Replayed, res.Outcome, "the retry learns the lost append was written")
		require.Equal(t, uint64(1), res.Revision)
	})
	t.Run("BeforeTheServerGotIt", func(t *testing.T) {
		ev := newEvent("Lost")
		p.cutRequests.Store(true)
		_, err := s.Append(ctx, "s-1", eventstore.Exact(1), ev)
		require.ErrorIs(t, err, eventstore.ErrUnavailable)
		res, err := s.Append(ctx, "s-1", eventstore.Exact(1), ev)
		require.NoError(t, err)
		require.Equal(t, eventstore.Written, res.Outcome, "the retry writes what never arrived")
		require.Equal(t, uint64(2), res.Revision)
	})
	evs, err := collect(s.ReadStream(ctx, "s-1", 0))
	require.NoError(t, err)
	require.Len(t, evs, 3, "each append stored once")
}

// TestHandlerRecognisesItsWriteAfterACutConnection is G4 after an unknown
// outcome, for real: the command handler's append is committed but its answer is
// cut; the handler retries, finds its own write, and answers "applied" (not
// duplicate), having written it once.
func TestHandlerRecognisesItsWriteAfterACutConnection(t *testing.T) {
	ctx := t.Context()
	s, p := proxiedStore(t)
	h := newAccountHandler(t, &cutBeforeAppend{Store: s, p: p}, fastRetries()...)
	res, err := h.Handle(ctx, accountCmd{ID: "dep", AggregateID: "a", Payload: deposit{Amount: 7}})
	require.NoError(t, err)
	require.False(t, res.Duplicate, "the handler recognises its own write after an unknown outcome")
	require.Equal(t, uint64(0), res.Revision)
	require.Len(t, streamEvents(t, s, "account-a"), 1)
	again, err := newAccountHandler(t, s).Handle(ctx, accountCmd{ID: "dep", AggregateID: "a", Payload: deposit{Amount: 7}})
	require.NoError(t, err)
	require.True(t, again.Duplicate)
}

// cutBeforeAppend cuts the reply of the first append.
type cutBeforeAppend struct {
	eventstore.Store
	p    *proxy
	once sync.Once
}

func (c *cutBeforeAppend) Append(ctx context.Context, stream string, e eventstore.ExpectedRevision, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	c.once.Do(func() { c.p.cutReplies.Store(true) })
	return c.Store.Append(ctx, stream, e, evs...)
}

// TestServerRestartMidRun restarts the "faults" throwaway cluster (pg_ctl restart,
// through .ci/postgres.sh; no other test uses that cluster) while writers append:
// calls fail with errors matching eventstore.ErrUnavailable while it is down and
// succeed afterwards; every append acknowledged before, during or after is in the
// log, once; every append that failed is retried with the same ids and answered
// Written or Replayed.
func TestServerRestartMidRun(t *testing.T) {
	home, url := os.Getenv(pgtest.EnvFaultsHome), os.Getenv(pgtest.EnvFaultsURL)
	if home == "" || url == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s or %s is unset under CI: .ci/run starts the faults cluster for the restart test", pgtest.EnvFaultsHome, pgtest.EnvFaultsURL)
		}
		t.Skipf("needs the faults cluster, which it restarts: eval \"$(.ci/postgres.sh start faults)\" (%s unset)", pgtest.EnvFaultsHome)
	}
	script, err := filepath.Abs("../../.ci/postgres.sh")
	require.NoError(t, err)
	// Restart only the cluster the test was told about: its env file must name
	// the same URL.
	envFile, err := os.ReadFile(filepath.Join(home, "env"))
	require.NoError(t, err)
	require.Contains(t, string(envFile), url, "%s/env does not name %s: refusing to restart another server", home, url)

	ctx := t.Context()
	schema := pgtest.NewSchemaName("idem_test")
	s, err := postgres.Open(ctx, url, postgres.WithSchema(schema), postgres.WithTimeout(5*time.Second), postgres.WithLogger(pgtest.Logger))
	require.NoError(t, err)
	t.Cleanup(func() { pgtest.Drop(t, url, schema) })
	t.Cleanup(func() { _ = s.Close() })
	const writers = 4
	var acked [writers][]eventstore.EventData
	var failures, retriedOK atomic.Int64
	var badErrs []error
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			stream := "restart-" + strconv.Itoa(w)
			expected := eventstore.NoStream()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ev := newEvent("Written")
				for attempt := 0; ; attempt++ {
					res, err := s.Append(ctx, stream, expected, ev)
					if err == nil {
						if attempt > 0 {
							retriedOK.Add(1)
						}
						acked[w] = append(acked[w], ev)
						expected = eventstore.Exact(res.Revision)
						break
					}
					failures.Add(1)
					if !errors.Is(err, eventstore.ErrUnavailable) {
						mu.Lock()
						badErrs = append(badErrs, err)
						mu.Unlock()
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	out, err := exec.CommandContext(ctx, script, "restart", "faults").CombinedOutput()
	require.NoError(t, err, "restart: %s", out)
	// Reads fail typed while the pool's connections are stale, then work.
	require.Eventually(t, func() bool {
		_, err := collect(s.ReadAll(ctx, eventstore.Start()))
		if err != nil {
			require.ErrorIs(t, err, eventstore.ErrUnavailable)
		}
		return err == nil
	}, 30*time.Second, 50*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	require.Empty(t, badErrs, "every failure during the restart matches ErrUnavailable")

	total := 0
	for w := range writers {
		evs, err := collect(s.ReadStream(ctx, "restart-"+strconv.Itoa(w), 0))
		require.NoError(t, err)
		require.Len(t, evs, len(acked[w]), "writer %d: every acknowledged append once, nothing else", w)
		for i := range evs {
			require.Equal(t, acked[w][i].ID, evs[i].ID)
		}
		total += len(evs)
	}
	t.Logf("restart: %d appends acknowledged, %d calls failed with ErrUnavailable, %d appends succeeded on retry", total, failures.Load(), retriedOK.Load())
	require.Positive(t, failures.Load(), "the restart was noticed")
}
