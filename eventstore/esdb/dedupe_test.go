package esdb_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// The command handler's dedupe guarantees (G2, G3, G4) on this backend, through the
// emulated wire protocol: the handler's event ids and Exact/NoStream appends must
// meet the server's own id-based idempotency.

type deposit struct{ Amount int }
type deposited struct{ Amount int }

type wallet = command.Handler[int, deposit, deposited]

func walletDecider() aggregate.Decider[int, deposit, deposited] {
	return aggregate.Decider[int, deposit, deposited]{
		Category: "wallet",
		Initial:  func() int { return 0 },
		Evolve:   func(s int, e deposited) int { return s + e.Amount },
		Decide: func(_ int, d deposit) ([]deposited, error) {
			if d.Amount <= 0 {
				return nil, errors.New("bad deposit")
			}
			return []deposited{deposited(d)}, nil
		},
	}
}

func walletCodec(t testing.TB) *aggregate.Codec[deposit, deposited] {
	t.Helper()
	c, err := aggregate.NewCodec[deposit, deposited](aggregate.Command[deposit]("wallet.Deposit"),
		aggregate.Event[deposited]("wallet.Deposited"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expectationStore records the expected revisions the handler appends with.
type expectationStore struct {
	eventstore.Store
	mu    sync.Mutex
	kinds []eventstore.RevisionKind
}

func (s *expectationStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	s.mu.Lock()
	s.kinds = append(s.kinds, expected.Kind())
	s.mu.Unlock()
	return s.Store.Append(ctx, stream, expected, events...)
}

func (s *expectationStore) requireExactOrNoStream(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.kinds {
		if k != eventstore.KindExact && k != eventstore.KindNoStream {
			t.Fatalf("handler appended with %v: EventStoreDB's idempotency only holds with Exact and NoStream", k)
		}
	}
}

func fastHandler(t testing.TB, st eventstore.Store, opts ...command.Option) *wallet {
	opts = append([]command.Option{command.WithRetries(64), command.WithBackoff(100*time.Microsecond, 5*time.Millisecond), command.WithLogger(quiet)}, opts...)
	h, err := command.NewHandler(st, walletDecider(), walletCodec(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandlerConcurrentDuplicatesWriteOnce(t *testing.T) {
	t.Log("esdb dedupe: emulated wire protocol; not verified against a real server in this run")
	st, srv := openEmulated(t)
	ctx := context.Background()
	rec := &expectationStore{Store: st}
	// Four handlers (as four processes), four concurrent deliveries each.
	handlers := []*wallet{fastHandler(t, rec), fastHandler(t, rec), fastHandler(t, rec), fastHandler(t, rec)}
	c := command.Command[deposit]{ID: "dep-1", AggregateID: "w1", Payload: deposit{Amount: 5}}
	results := make([]command.Result, 16)
	errs := make([]error, 16)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = handlers[i%4].Handle(ctx, c)
		}()
	}
	wg.Wait()
	duplicates := 0
	for i := range 16 {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		if results[i].Duplicate {
			duplicates++
		}
		if results[i].Revision != 0 || len(results[i].Events) != 1 || results[i].Events[0].ID != results[0].Events[0].ID {
			t.Fatalf("delivery %d result %+v differs from %+v", i, results[i], results[0])
		}
	}
	if duplicates != 15 {
		t.Fatalf("%d of 16 deliveries were duplicates; want exactly one told it applied the command (G4)", duplicates)
	}
	if n := srv.StreamLen("wallet-w1"); n != 1 {
		t.Fatalf("stream has %d events, want 1", n)
	}
	if n := srv.Appends(); n != 1 {
		t.Fatalf("the server wrote %d appends, want 1", n)
	}
	rec.requireExactOrNoStream(t)
}

func TestHandlerLostAcknowledgement(t *testing.T) {
	st, srv := openEmulated(t)
	ctx := context.Background()
	h := fastHandler(t, st)
	if _, err := h.Handle(ctx, command.Command[deposit]{ID: "dep-0", AggregateID: "w2", Payload: deposit{Amount: 1}}); err != nil {
		t.Fatal(err)
	}
	srv.FailNextAppendAfterCommit() // committed on the server, the client hears Unavailable
	c := command.Command[deposit]{ID: "dep-1", AggregateID: "w2", Payload: deposit{Amount: 7}}
	res, err := h.Handle(ctx, c)
	if err != nil {
		t.Fatalf("the handler's retry should find the command recorded: %v", err)
	}
	if res.Duplicate || res.Revision != 1 || len(res.Events) != 1 || res.Events[0].ID != command.EventID("wallet-w2", "dep-1", 0) {
		t.Fatalf("result %+v; want the write recognised as this handler's own (G4)", res)
	}
	if n := srv.StreamLen("wallet-w2"); n != 2 {
		t.Fatalf("stream has %d events, want 2", n)
	}
	// Redelivery by a fresh handler: the original result, nothing written.
	again, err := fastHandler(t, st).Handle(ctx, c)
	if err != nil || !again.Duplicate || again.Revision != res.Revision || again.Events[0].ID != res.Events[0].ID {
		t.Fatalf("redelivery = %+v, %v", again, err)
	}
	// Without retries the unknown outcome surfaces; the caller's retry is a duplicate.
	srv.FailNextAppendAfterCommit()
	h0 := fastHandler(t, st, command.WithRetries(0))
	c2 := command.Command[deposit]{ID: "dep-2", AggregateID: "w2", Payload: deposit{Amount: 1}}
	if _, err := h0.Handle(ctx, c2); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	res2, err := h0.Handle(ctx, c2)
	if err != nil || !res2.Duplicate {
		t.Fatalf("caller's retry = %+v, %v; want a duplicate", res2, err)
	}
	if n := srv.StreamLen("wallet-w2"); n != 3 {
		t.Fatalf("stream has %d events, want 3", n)
	}
	loaded, err := fastHandler(t, st).Load(ctx, "w2")
	if err != nil || loaded.State != 9 {
		t.Fatalf("state = %d, %v; want 9", loaded.State, err)
	}
}

func TestHandlerKeyReuseWithChangedPayload(t *testing.T) {
	st, srv := openEmulated(t)
	ctx := context.Background()
	h := fastHandler(t, st)
	if _, err := h.Handle(ctx, command.Command[deposit]{ID: "k", AggregateID: "w3", Payload: deposit{Amount: 10}}); err != nil {
		t.Fatal(err)
	}
	_, err := fastHandler(t, st).Handle(ctx, command.Command[deposit]{ID: "k", AggregateID: "w3", Payload: deposit{Amount: 11}})
	var reused *command.IdempotencyKeyReusedError
	if !errors.Is(err, command.ErrIdempotencyKeyReused) || !errors.As(err, &reused) {
		t.Fatalf("err = %v, want ErrIdempotencyKeyReused", err)
	}
	if n := srv.StreamLen("wallet-w3"); n != 1 {
		t.Fatalf("stream has %d events, want 1: nothing written", n)
	}
}
