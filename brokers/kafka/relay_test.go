package kafka_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/internal/brokertest"
	"github.com/idemkit/idem/brokers/kafka"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// The relay is SIGKILLed between the broker's acknowledgement of an event and
// its checkpoint: restarted, it publishes that event again under the same id,
// and the downstream consumer, deduping on the id, absorbs the copy. Every event
// reaches it.
func TestRelayKilledBetweenPublishAndCheckpoint(t *testing.T) {
	ctx := context.Background()
	addrs := cluster(t, 4, "events")
	env := brokertest.NewEnv(t)
	cs := brokertest.Deposits(120, 12)
	var ids []string
	for _, c := range cs {
		res, err := env.Handler.Handle(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Events[0].ID.String())
	}
	checkpoints := filepath.Join(t.TempDir(), "relay.db")

	st := runChild(t, child{Role: "relay", Addrs: addrs, DB: env.Path, Topic: "events", Checkpoints: checkpoints, KillAfter: 50})
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("relay child ended with %v, want SIGKILL", st)
	}

	// Restarted: the relay catches up from its checkpoint.
	relay, runner := newRelay(t, addrs, env, checkpoints)
	if err := runner.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	rs := relay.Stats()
	total := 50 + int(rs.Published)
	down := brokertest.NewDownstream()
	for _, r := range readTopic(t, addrs, "events", total) {
		var id string
		for _, h := range r.Headers {
			if h.Key == brokers.HeaderIdempotencyKey {
				id = string(h.Value)
			}
		}
		down.Receive(id)
	}
	down.CheckReceived(t, ids)
	t.Logf("relay: 50 published before SIGKILL, %d after the restart; downstream absorbed %d copies", rs.Published, down.Absorbed())
	if down.Absorbed() != 1 || int(rs.Published) != len(ids)-49 {
		t.Fatalf("downstream absorbed %d copies after %d republished, want the one event published before the checkpoint", down.Absorbed(), rs.Published)
	}
}

// newRelay returns a relay to the events topic run by a projection runner whose
// reactor checkpoint is in the database at checkpoints.
func newRelay(t testing.TB, addrs []string, env *brokertest.Env, checkpoints string) (*brokers.Relay, *projection.Runner[*sqlitetarget.Tx]) {
	t.Helper()
	relay, runner, err := openRelay(addrs, env.Store, checkpoints, nil)
	if err != nil {
		t.Fatal(err)
	}
	return relay, runner
}

// openRelay builds the relay; wrap, if set, wraps its publisher.
func openRelay(addrs []string, store eventstore.Store, checkpoints string, wrap func(brokers.Publisher) brokers.Publisher) (*brokers.Relay, *projection.Runner[*sqlitetarget.Tx], error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return nil, nil, err
	}
	pub, err := kafka.NewPublisher(cl)
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

// killingPublisher SIGKILLs the process right after the broker acknowledged its
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
	_, runner, err := openRelay(c.Addrs, env.Store, c.Checkpoints, func(p brokers.Publisher) brokers.Publisher {
		return &killingPublisher{Publisher: p, n: int64(c.KillAfter)}
	})
	if err != nil {
		return err
	}
	return runner.Run(ctx)
}
