package brokertest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// Env is an event store file and a ledger handler on it. Several processes may
// open the same file (OpenEnv in a child).
type Env struct {
	Path    string
	Store   eventstore.Store
	Codec   *aggregate.Codec[Command, Event]
	Handler *command.Handler[State, Command, Event]
}

// NewEnv opens a fresh event store in t's temporary directory.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	e, err := OpenEnv(context.Background(), filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Store.Close() })
	return e
}

// OpenEnv opens the event store at path with a ledger handler (no cache, so that
// several processes on the file decide on what is stored).
func OpenEnv(ctx context.Context, path string) (*Env, error) {
	store, err := sqlite.Open(ctx, path, sqlite.WithPollInterval(20*time.Millisecond))
	if err != nil {
		return nil, err
	}
	codec, err := NewCodec()
	if err != nil {
		store.Close()
		return nil, err
	}
	h, err := command.NewHandler(store, Decider, codec, command.WithLogger(Quiet()), command.WithCache(0))
	if err != nil {
		store.Close()
		return nil, err
	}
	return &Env{Path: path, Store: store, Codec: codec, Handler: h}, nil
}

// Inbox returns an inbox over the env's handler, with short backoffs.
func (e *Env) Inbox(t testing.TB, opts ...brokers.InboxOption) *brokers.Inbox {
	t.Helper()
	in, err := e.NewInbox(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// NewInbox returns an inbox over the env's handler, with short backoffs.
func (e *Env) NewInbox(opts ...brokers.InboxOption) (*brokers.Inbox, error) {
	opts = append([]brokers.InboxOption{brokers.WithLogger(Quiet()), brokers.WithBackoff(5e6, 50e6)}, opts...)
	return brokers.NewInbox(brokers.Commands(e.Handler, e.Codec), opts...)
}

// Deposits returns n deposit commands over accounts ledgers, with ids
// "dep-000001"..., amounts 1..n, in order: what a producer sends.
func Deposits(n, accounts int) []command.Command[Command] {
	cs := make([]command.Command[Command], n)
	for i := range cs {
		cs[i] = command.Command[Command]{ID: fmt.Sprintf("dep-%06d", i+1), AggregateID: fmt.Sprintf("acct-%03d", i%accounts),
			Payload: Deposit{Amount: int64(i + 1)}}
	}
	return cs
}

// Messages returns the messages that carry cs to topic.
func (e *Env) Messages(t testing.TB, topic string, cs []command.Command[Command]) []brokers.Message {
	t.Helper()
	ms := make([]brokers.Message, len(cs))
	for i, c := range cs {
		m, err := brokers.CommandMessage(e.Codec, topic, c)
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	return ms
}

// Applied reads the store and returns how many events each command id wrote.
func (e *Env) Applied(t testing.TB) map[string]int {
	t.Helper()
	got := map[string]int{}
	for ev, err := range e.Store.ReadAll(context.Background(), eventstore.Start()) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ev.Stream, Category+"-") {
			continue
		}
		meta, err := command.DecodeMetadata(ev.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		got[meta.CommandID]++
	}
	return got
}

// CheckAppliedOnce fails t unless every command of cs wrote exactly one event and
// no other command wrote any: every command took effect once.
func (e *Env) CheckAppliedOnce(t testing.TB, cs []command.Command[Command]) {
	t.Helper()
	got := e.Applied(t)
	for _, c := range cs {
		if n := got[c.ID]; n != 1 {
			t.Errorf("command %s wrote %d events, want 1", c.ID, n)
		}
	}
	if len(got) != len(cs) {
		t.Errorf("%d commands wrote events, want %d", len(got), len(cs))
	}
}

// Quiet is a logger that drops everything.
func Quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
