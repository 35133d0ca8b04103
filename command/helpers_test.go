package command_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// --- a small account domain: deposits and withdrawals -------------------------

// AccountCommand and AccountEvent are the domain's sealed command and event types.
type (
	AccountCommand interface{ isAccountCommand() }
	AccountEvent   interface{ isAccountEvent() }
)

type Open struct{ Owner string }
type Deposit struct {
	Amount int
	Ref    string
}
type Withdraw struct{ Amount int }
type Touch struct{}

type Opened struct{ Owner string }
type Deposited struct {
	Amount int
	Ref    string
}
type Withdrawn struct{ Amount int }

func (Open) isAccountCommand()     {}
func (Deposit) isAccountCommand()  {}
func (Withdraw) isAccountCommand() {}
func (Touch) isAccountCommand()    {}
func (Opened) isAccountEvent()     {}
func (Deposited) isAccountEvent()  {}
func (Withdrawn) isAccountEvent()  {}

type Account struct {
	Open    bool
	Owner   string
	Balance int
	Count   int
}

// Shorthands for the account domain's handler types.
type (
	accountDecider_ = aggregate.Decider[Account, AccountCommand, AccountEvent]
	accountHandler  = *command.Handler[Account, AccountCommand, AccountEvent]
	cmd             = command.Command[AccountCommand]
)

var errInsufficient = errors.New("insufficient funds")

func accountDecider() accountDecider_ {
	return accountDecider_{
		Category: "account",
		Initial:  func() Account { return Account{} },
		Evolve: func(s Account, e AccountEvent) Account {
			switch e := e.(type) {
			case Opened:
				s.Open, s.Owner = true, e.Owner
			case Deposited:
				s.Balance += e.Amount
				s.Count++
			case Withdrawn:
				s.Balance -= e.Amount
				s.Count++
			}
			return s
		},
		Decide: func(s Account, c AccountCommand) ([]AccountEvent, error) {
			switch c := c.(type) {
			case Open:
				if s.Open {
					return nil, aggregate.AlreadyDone("account of " + s.Owner)
				}
				return []AccountEvent{Opened{Owner: c.Owner}}, nil
			case Deposit:
				if c.Amount <= 0 {
					return nil, fmt.Errorf("deposit %d: amount must be positive", c.Amount)
				}
				return []AccountEvent{Deposited{Amount: c.Amount, Ref: c.Ref}}, nil
			case Withdraw:
				if c.Amount > s.Balance {
					return nil, errInsufficient
				}
				return []AccountEvent{Withdrawn{Amount: c.Amount}}, nil
			case Touch:
				return nil, nil
			}
			return nil, fmt.Errorf("unknown command %T", c)
		},
	}
}

func accountCodec(t testing.TB) *aggregate.Codec[AccountCommand, AccountEvent] {
	t.Helper()
	c, err := aggregate.NewCodec[AccountCommand, AccountEvent](
		aggregate.Command[Open]("account.Open"),
		aggregate.Command[Deposit]("account.Deposit"),
		aggregate.Command[Withdraw]("account.Withdraw"),
		aggregate.Command[Touch]("account.Touch"),
		aggregate.Event[Opened]("account.Opened"),
		aggregate.Event[Deposited]("account.Deposited"),
		aggregate.Event[Withdrawn]("account.Withdrawn"),
	)
	require.NoError(t, err)
	return c
}

// newHandler returns a handler of the account domain on store.
func newHandler(t testing.TB, store eventstore.Store, opts ...command.Option) accountHandler {
	t.Helper()
	return mustHandler(t, store, accountDecider(), opts...)
}

// mustHandler returns a handler of decider d on store, with the account codec.
func mustHandler(t testing.TB, store eventstore.Store, d accountDecider_, opts ...command.Option) accountHandler {
	t.Helper()
	h, err := command.NewHandler(store, d, accountCodec(t), opts...)
	require.NoError(t, err)
	return h
}

// balance loads the account's state and revision.
func balance(t testing.TB, h accountHandler, id string) (Account, uint64) {
	t.Helper()
	l, err := h.Load(context.Background(), id)
	require.NoError(t, err)
	return l.State, l.Revision
}

// --- backends --------------------------------------------------------------------

type backend struct {
	name string
	open func(t testing.TB) eventstore.Store
}

// reopen returns another Store on what store holds, as a second replica or
// process opens it (the same Store for memory, which only one process can share),
// and spec, what names it to a child process (openSpec); "" for memory.
func reopen(t testing.TB, store eventstore.Store) (again eventstore.Store, spec string) {
	switch s := store.(type) {
	case *sqlite.Store:
		return openSpec(t, "sqlite:"+s.Path()), "sqlite:" + s.Path()
	case *postgres.Store:
		return openSpec(t, "postgres:"+s.Schema()), "postgres:" + s.Schema()
	}
	return store, ""
}

// openSpec opens the Store a spec of reopen names, closed when t ends.
func openSpec(t testing.TB, spec string) eventstore.Store {
	t.Helper()
	kind, name, _ := strings.Cut(spec, ":")
	if kind == "postgres" {
		return pgtest.OpenSchema(t, name)
	}
	s, err := sqlite.Open(context.Background(), name, sqlite.WithSynchronous(sqlite.Normal))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// backends are the stores every eachBackend test runs on: memory, SQLite, and
// PostgreSQL when a server is configured (always under CI: pgtest fails there
// without one).
func backends() []backend {
	all := []backend{
		{"memory", func(t testing.TB) eventstore.Store {
			s := memory.New()
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"sqlite", func(t testing.TB) eventstore.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.WithSynchronous(sqlite.Normal))
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
	if os.Getenv(pgtest.EnvURL) != "" || os.Getenv("CI") != "" {
		all = append(all, backend{"postgres", func(t testing.TB) eventstore.Store { return pgtest.Open(t) }})
	}
	return all
}

// eachBackend runs f on every backend.
func eachBackend(t *testing.T, f func(t *testing.T, store eventstore.Store)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { f(t, b.open(t)) })
	}
}

// streamEvents reads a whole stream (nil when it does not exist).
func streamEvents(t testing.TB, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range s.ReadStream(context.Background(), stream, 0) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

func fastRetries() []command.Option {
	return []command.Option{command.WithRetries(64), command.WithBackoff(50*time.Microsecond, 2*time.Millisecond)}
}

// --- store wrappers ----------------------------------------------------------------

// countingStore counts the calls that reach the store.
type countingStore struct {
	eventstore.Store
	appends, reads, eventsRead atomic.Int64
}

func (c *countingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	c.appends.Add(1)
	return c.Store.Append(ctx, stream, expected, events...)
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, from uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	c.reads.Add(1)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for ev, err := range c.Store.ReadStream(ctx, stream, from, opts...) {
			if err == nil {
				c.eventsRead.Add(1)
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// lostAckStore commits appends and then, while lose > 0, reports a failure: the
// acknowledgement is lost, the outcome looks unknown to the caller.
type lostAckStore struct {
	eventstore.Store
	lose     atomic.Int64
	appended atomic.Int64 // appends that wrote something new
}

var errLostAck = fmt.Errorf("connection reset after commit: %w", eventstore.ErrUnavailable)

func (l *lostAckStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	before := len(streamEventsCtx(ctx, l.Store, stream))
	res, err := l.Store.Append(ctx, stream, expected, events...)
	if err == nil && len(streamEventsCtx(ctx, l.Store, stream)) > before {
		l.appended.Add(1)
	}
	if err == nil && l.lose.Add(-1) >= 0 {
		return eventstore.AppendResult{}, errLostAck
	}
	return res, err
}

func streamEventsCtx(ctx context.Context, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	var out []eventstore.RecordedEvent
	for ev, err := range s.ReadStream(ctx, stream, 0) {
		if err != nil {
			return out
		}
		out = append(out, ev)
	}
	return out
}

// conflictStore fails every append with a conflict.
type conflictStore struct{ eventstore.Store }

func (c conflictStore) Append(_ context.Context, stream string, expected eventstore.ExpectedRevision, _ ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{}, &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: eventstore.Exact(99)}
}

// loadAcc is Handler.Load as state, revision and error.
func loadAcc(h accountHandler, ctx context.Context, id string) (Account, uint64, error) {
	l, err := h.Load(ctx, id)
	return l.State, l.Revision, err
}

// FindEvent passes through to the inner store's eventstore.EventFinder, or answers
// errors.ErrUnsupported, so that a counting store keeps the capability it wraps.
func (c *countingStore) FindEvent(ctx context.Context, stream string, id uuid.UUID) (eventstore.RecordedEvent, error) {
	f, ok := c.Store.(eventstore.EventFinder)
	if !ok {
		return eventstore.RecordedEvent{}, errors.ErrUnsupported
	}
	return f.FindEvent(ctx, stream, id)
}
