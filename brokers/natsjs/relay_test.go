package natsjs_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/internal/brokertest"
	"github.com/idemkit/idem/brokers/natsjs"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// The relay is SIGKILLed between JetStream's acknowledgement of an event and
// its checkpoint: restarted, it publishes that event again under the same
// Nats-Msg-Id, and JetStream drops the copy within its duplicate window. Every
// event reaches the downstream consumer once.
func TestRelayKilledBetweenPublishAndCheckpoint(t *testing.T) {
	ctx := context.Background()
	url := server(t)
	js := connect(t, url)
	stream(t, js, "EVENTS", "events")
	env := brokertest.NewEnv(t)
	var ids []string
	for _, c := range brokertest.Deposits(120, 12) {
		res, err := env.Handler.Handle(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Events[0].ID.String())
	}
	checkpoints := filepath.Join(t.TempDir(), "relay.db")
	st := runChild(t, child{Role: "relay", URL: url, DB: env.Path, Checkpoints: checkpoints, KillAfter: 50})
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("relay child ended with %v, want SIGKILL", st)
	}
	relay, runner, err := openRelay(js, env.Store, checkpoints, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	rs := relay.Stats()
	down := brokertest.NewDownstream()
	for _, msg := range readSubject(t, js, "EVENTS", "events.>", len(ids)) {
		down.Receive(msg.Headers().Get(brokers.HeaderIdempotencyKey))
	}
	down.CheckReceived(t, ids)
	t.Logf("relay: 50 published before SIGKILL, %d after the restart, %d of them dropped by JetStream's dedupe; downstream absorbed %d",
		rs.Published, rs.BrokerDuplicates, down.Absorbed())
	if rs.BrokerDuplicates != 1 || int(rs.Published) != len(ids)-49 || down.Absorbed() != 0 {
		t.Fatalf("relay stats %+v, downstream absorbed %d: want the one event published before the checkpoint dropped by the broker", rs, down.Absorbed())
	}
}

// openRelay builds a relay to the events subject (4 partitions) run by a
// projection runner whose reactor checkpoint is in the database at checkpoints;
// wrap, if set, wraps its publisher.
func openRelay(js jetstream.JetStream, store eventstore.Store, checkpoints string, wrap func(brokers.Publisher) brokers.Publisher) (*brokers.Relay, *projection.Runner[*sqlitetarget.Tx], error) {
	pub, err := natsjs.NewPublisher(js, 4)
	if err != nil {
		return nil, nil, err
	}
	var p brokers.Publisher = pub
	if wrap != nil {
		p = wrap(p)
	}
	relay, err := brokers.NewRelay(p, "events", brokers.WithRelayLogger(brokertest.Quiet()))
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlitetarget.Open(context.Background(), checkpoints)
	if err != nil {
		return nil, nil, err
	}
	runner, err := projection.NewRunner(store, db, projection.WithLogger(brokertest.Quiet()))
	if err != nil {
		return nil, nil, err
	}
	re := relay.Reactor("relay")
	re.StreamPrefixes = []string{brokertest.Category + "-"}
	if err := runner.AddReactor(re); err != nil {
		return nil, nil, err
	}
	return relay, runner, nil
}

// killingPublisher SIGKILLs the process right after JetStream acknowledged its
// n-th message, before the relay's checkpoint can move.
type killingPublisher struct {
	brokers.Publisher
	n     int64
	count atomic.Int64
}

func (k *killingPublisher) Publish(ctx context.Context, id string, m brokers.Message) (bool, error) {
	dup, err := k.Publisher.Publish(ctx, id, m)
	if err == nil && k.count.Add(1) == k.n {
		_ = syscall.Kill(syscall.Getpid(), syscall.SIGKILL)
		select {}
	}
	return dup, err
}

// relayUntilKilled is the child of TestRelayKilledBetweenPublishAndCheckpoint.
func relayUntilKilled(c child) error {
	ctx := context.Background()
	env, err := brokertest.OpenEnv(ctx, c.DB)
	if err != nil {
		return err
	}
	js, err := dial(c.URL)
	if err != nil {
		return err
	}
	_, runner, err := openRelay(js, env.Store, c.Checkpoints, func(p brokers.Publisher) brokers.Publisher {
		return &killingPublisher{Publisher: p, n: int64(c.KillAfter)}
	})
	if err != nil {
		return err
	}
	return runner.Run(ctx)
}
