package command_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// --- a small account domain: deposits and withdrawals -------------------------

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

type Account struct {
	Open    bool
	Owner   string
	Balance int
	Count   int
}

var errInsufficient = errors.New("insufficient funds")

func accountDecider() aggregate.Decider[Account] {
	return aggregate.Decider[Account]{
		Category: "account",
		Initial:  func() Account { return Account{} },
		Evolve: func(s Account, e any) Account {
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
		Decide: func(s Account, c any) ([]any, error) {
			switch c := c.(type) {
			case Open:
				if s.Open {
					return nil, aggregate.AlreadyDone("account of " + s.Owner)
				}
				return []any{Opened{Owner: c.Owner}}, nil
			case Deposit:
				if c.Amount <= 0 {
					return nil, fmt.Errorf("deposit %d: amount must be positive", c.Amount)
				}
				return []any{Deposited{Amount: c.Amount, Ref: c.Ref}}, nil
			case Withdraw:
				if c.Amount > s.Balance {
					return nil, errInsufficient
				}
				return []any{Withdrawn{Amount: c.Amount}}, nil
			case Touch:
				return nil, nil
			}
			return nil, fmt.Errorf("unknown command %T", c)
		},
	}
}

func accountCodec(t testing.TB) *aggregate.Codec {
	c := aggregate.NewCodec()
	require.NoError(t, aggregate.Register[Open](c, "account.Open"))
	require.NoError(t, aggregate.Register[Deposit](c, "account.Deposit"))
	require.NoError(t, aggregate.Register[Withdraw](c, "account.Withdraw"))
	require.NoError(t, aggregate.Register[Touch](c, "account.Touch"))
	require.NoError(t, aggregate.Register[Opened](c, "account.Opened"))
	require.NoError(t, aggregate.Register[Deposited](c, "account.Deposited"))
	require.NoError(t, aggregate.Register[Withdrawn](c, "account.Withdrawn"))
	return c
}

// --- backends --------------------------------------------------------------------

type backend struct {
	name string
	open func(t testing.TB) eventstore.Store
}

func backends() []backend {
	return []backend{
		{"memory", func(t testing.TB) eventstore.Store {
			s := memory.New()
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"sqlite", func(t testing.TB) eventstore.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Synchronous(sqlite.Normal))
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
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
