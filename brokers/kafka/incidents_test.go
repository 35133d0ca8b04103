package kafka_test

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/internal/brokertest"
	"github.com/idemkit/idem/brokers/kafka"
	"github.com/idemkit/idem/command"
)

// A consumer SIGKILLed after Handle and before the offset commit: its
// replacement (the same static member) is handed the uncommitted records again,
// and every one of them that was applied is absorbed as a duplicate.
func TestConsumerKilledAfterHandleBeforeCommit(t *testing.T) {
	addrs := cluster(t, 4, "cmds", "cmds.dead-letter")
	env := brokertest.NewEnv(t)
	cs := brokertest.Deposits(400, 40)
	produce(t, client(t, addrs), env.Messages(t, "cmds", cs))

	st := runChild(t, child{Role: "consumer", Addrs: addrs, DB: env.Path, Group: "ledger", Topic: "cmds", Instance: "member-1", KillAfter: 150})
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", st)
	}
	appliedByChild := len(env.Applied(t))
	if appliedByChild < 150 {
		t.Fatalf("child applied %d commands before it was killed, want at least 150", appliedByChild)
	}
	if c := committed(t, client(t, addrs), "ledger", "cmds"); sum(c) > 0 {
		t.Fatalf("the child committed %v before its kill; the test needs none", c)
	}

	in := env.Inbox(t)
	r := start(t, addrs, in, "ledger", "cmds", kgo.InstanceID("member-1"))
	waitFor(t, "every record handled", 60*time.Second, func() bool { return in.Stats().Processed >= uint64(len(cs)) })
	r.stop(t)
	env.CheckAppliedOnce(t, cs)
	s := in.Stats()
	t.Logf("child applied %d before SIGKILL; replacement: %d applied, %d duplicates absorbed", appliedByChild, s.Applied, s.Duplicates)
	if s.Duplicates != uint64(appliedByChild) || s.Applied != uint64(len(cs)-appliedByChild) {
		t.Fatalf("stats %+v: want %d duplicates (every record the child applied) and %d applied", s, appliedByChild, len(cs)-appliedByChild)
	}
}

func sum(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += max(v, 0)
	}
	return n
}

// consumeUntilKilled is the child of TestConsumerKilledAfterHandleBeforeCommit:
// it consumes with commits far apart and SIGKILLs itself right after the
// KillAfter-th Handle returned, before the inbox answers and anything commits.
func consumeUntilKilled(c child) error {
	ctx := context.Background()
	env, err := brokertest.OpenEnv(ctx, c.DB)
	if err != nil {
		return err
	}
	var handled atomic.Int64
	h := brokers.Commands(env.Handler, env.Codec)
	in, err := brokers.NewInbox(brokers.HandlerFunc(func(ctx context.Context, d brokers.Delivery) (command.Result, error) {
		res, err := h.Handle(ctx, d)
		if handled.Add(1) == int64(c.KillAfter) {
			_ = syscall.Kill(syscall.Getpid(), syscall.SIGKILL)
			select {}
		}
		return res, err
	}), brokers.WithLogger(brokertest.Quiet()))
	if err != nil {
		return err
	}
	cons, err := kafka.NewConsumer(in, c.Group, []string{c.Topic}, kafka.WithLogger(brokertest.Quiet()), kafka.WithCommitInterval(time.Hour),
		kafka.WithClientOptions(kgo.SeedBrokers(c.Addrs...), kgo.InstanceID(c.Instance)))
	if err != nil {
		return err
	}
	return cons.Run(ctx)
}

// An operator rewinds the group's offsets by 1,000: the 1,000 records are
// delivered again and every one is absorbed as a duplicate.
func TestOffsetsRewoundByAThousand(t *testing.T) {
	addrs := cluster(t, 1, "cmds", "cmds.dead-letter")
	env := brokertest.NewEnv(t)
	cs := brokertest.Deposits(1500, 50)
	admin := client(t, addrs)
	produce(t, admin, env.Messages(t, "cmds", cs))

	in := env.Inbox(t)
	r := start(t, addrs, in, "ledger", "cmds")
	waitFor(t, "1,500 records handled", 60*time.Second, func() bool { return in.Stats().Processed == 1500 })
	r.stop(t)
	if c := committed(t, admin, "ledger", "cmds"); c[0] != 1500 {
		t.Fatalf("committed %v after a clean shutdown, want 1500", c)
	}

	commit(t, admin, "ledger", "cmds", map[int32]int64{0: 500})
	in2 := env.Inbox(t)
	r2 := start(t, addrs, in2, "ledger", "cmds")
	waitFor(t, "the rewound 1,000 handled", 60*time.Second, func() bool { return in2.Stats().Processed == 1000 })
	r2.stop(t)
	env.CheckAppliedOnce(t, cs)
	if s := in2.Stats(); s.Duplicates != 1000 || s.Applied != 0 {
		t.Fatalf("after the rewind: %+v, want 1000 duplicates absorbed and nothing applied", s)
	}
	if c := committed(t, admin, "ledger", "cmds"); c[0] != 1500 {
		t.Fatalf("committed %v, want 1500 again", c)
	}
}

// A replay job republishes the whole topic: the old messages come back with new
// offsets and the same idempotency keys, and every one is a duplicate.
func TestTopicRepublishedByAReplayJob(t *testing.T) {
	addrs := cluster(t, 4, "cmds", "cmds.dead-letter")
	env := brokertest.NewEnv(t)
	cs := brokertest.Deposits(600, 30)
	admin := client(t, addrs)
	produce(t, admin, env.Messages(t, "cmds", cs))
	in := env.Inbox(t)
	start(t, addrs, in, "ledger", "cmds")
	waitFor(t, "600 records handled", 60*time.Second, func() bool { return in.Stats().Processed == 600 })

	// The replay job: read the topic from the start and produce every record again.
	old := readTopic(t, addrs, "cmds", 600)
	again := make([]*kgo.Record, len(old))
	for i, r := range old {
		again[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers}
	}
	if err := admin.ProduceSync(context.Background(), again...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the republished 600 handled", 60*time.Second, func() bool { return in.Stats().Processed == 1200 })
	env.CheckAppliedOnce(t, cs)
	if s := in.Stats(); s.Duplicates != 600 || s.Applied != 600 {
		t.Fatalf("stats %+v: want 600 applied, then 600 duplicates absorbed", s)
	}
}

// A second consumer joins mid-batch and later leaves: partitions move twice while
// records are queued and one per partition is in flight, applied but not yet
// acknowledged. Nothing is lost, every command is applied once, and the records
// handled twice are counted.
func TestRebalanceMidBatch(t *testing.T) {
	addrs := cluster(t, 8, "cmds", "cmds.dead-letter")
	env := brokertest.NewEnv(t)
	cs := brokertest.Deposits(1600, 160)
	produce(t, client(t, addrs), env.Messages(t, "cmds", cs))
	h := brokers.Commands(env.Handler, env.Codec)
	// a's workers stop after 300 records, each holding one applied record, until
	// the rebalance has revoked half of them.
	gate := make(chan struct{})
	var aHandled atomic.Int64
	a, err := brokers.NewInbox(brokers.HandlerFunc(func(ctx context.Context, d brokers.Delivery) (command.Result, error) {
		res, err := h.Handle(ctx, d)
		if aHandled.Add(1) >= 300 {
			select {
			case <-gate:
			case <-ctx.Done(): // revoked while in flight: the outcome is not reported
				return res, ctx.Err()
			}
		}
		return res, err
	}), brokers.WithGrace(0), brokers.WithLogger(brokertest.Quiet()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := brokers.NewInbox(brokers.HandlerFunc(func(ctx context.Context, d brokers.Delivery) (command.Result, error) {
		time.Sleep(time.Millisecond)
		return h.Handle(ctx, d)
	}), brokers.WithLogger(brokertest.Quiet()))
	if err != nil {
		t.Fatal(err)
	}
	fast := kgo.HeartbeatInterval(100 * time.Millisecond)
	ra := start(t, addrs, a, "ledger", "cmds", fast)
	waitFor(t, "a mid-batch", 60*time.Second, func() bool { return aHandled.Load() >= 300 })
	rb := start(t, addrs, b, "ledger", "cmds", fast)
	waitFor(t, "a's revocation", 60*time.Second, func() bool { return ra.c.Stats().Revoked > 0 })
	close(gate)
	waitFor(t, "b handling its partitions", 60*time.Second, func() bool { return b.Stats().Processed >= 100 })
	rb.stop(t) // b leaves mid-batch: its partitions go back to a
	waitFor(t, "every command applied", 60*time.Second, func() bool { return len(env.Applied(t)) == len(cs) })
	waitFor(t, "every record acknowledged", 60*time.Second, func() bool {
		return a.Stats().Processed+b.Stats().Processed >= uint64(len(cs))
	})
	ra.stop(t)
	env.CheckAppliedOnce(t, cs)
	sa, sb := a.Stats(), b.Stats()
	t.Logf("a: %d applied, %d duplicates; b: %d applied, %d duplicates; a revoked %d partitions",
		sa.Applied, sa.Duplicates, sb.Applied, sb.Duplicates, ra.c.Stats().Revoked)
	// Each record was acknowledged once, except those a abandoned at the
	// revocation, applied and unacknowledged: b absorbed each as a duplicate.
	if sa.Processed+sb.Processed != uint64(len(cs)) || sa.Abandoned == 0 || sb.Duplicates+sa.Duplicates != sa.Abandoned {
		t.Fatalf("a %+v, b %+v: want %d acknowledged and one duplicate per record a abandoned", sa, sb, len(cs))
	}
}

// Permanent refusals go to the dead-letter topic with their reason, and are
// acknowledged; a message without a key is never handled.
func TestDeadLettersAreAcknowledged(t *testing.T) {
	addrs := cluster(t, 2, "cmds", "cmds.dead-letter")
	env := brokertest.NewEnv(t)
	good := env.Messages(t, "cmds", brokertest.Deposits(10, 3))
	rejected := env.Messages(t, "cmds", []command.Command[brokertest.Command]{{ID: "zero", AggregateID: "acct-000", Payload: brokertest.Deposit{}}})[0]
	noKey := good[0]
	noKey.Headers = noKey.Headers[1:]
	admin := client(t, addrs)
	produce(t, admin, append(good, rejected, noKey))
	in := env.Inbox(t)
	r := start(t, addrs, in, "ledger", "cmds")
	waitFor(t, "12 records handled", 60*time.Second, func() bool { return in.Stats().Processed == 12 })
	r.stop(t)
	dead := readTopic(t, addrs, "cmds.dead-letter", 2)
	reasons := map[string]bool{}
	for _, rec := range dead {
		for _, h := range rec.Headers {
			if h.Key == brokers.HeaderDeadLetterReason {
				reasons[string(h.Value)] = true
			}
		}
	}
	if !reasons[string(brokers.ReasonRejected)] || !reasons[string(brokers.ReasonNoIdempotencyKey)] {
		t.Fatalf("dead-letter reasons %v", reasons)
	}
	c := committed(t, admin, "ledger", "cmds")
	if sum(c) != 12 {
		t.Fatalf("committed %v, want all 12 records", c)
	}
	if s := in.Stats(); s.Applied != 10 || s.DeadLettered != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNewConsumerRefusesBadOptions(t *testing.T) {
	env := brokertest.NewEnv(t)
	in := env.Inbox(t)
	for name, f := range map[string]func() error{
		"nil inbox": func() error { _, err := kafka.NewConsumer(nil, "g", []string{"t"}); return err },
		"no group":  func() error { _, err := kafka.NewConsumer(in, "", []string{"t"}); return err },
		"no topic":  func() error { _, err := kafka.NewConsumer(in, "g", nil); return err },
		"interval": func() error {
			_, err := kafka.NewConsumer(in, "g", []string{"t"}, kafka.WithCommitInterval(0))
			return err
		},
		"dlq": func() error {
			_, err := kafka.NewConsumer(in, "g", []string{"t"}, kafka.WithDeadLetterTopic(""))
			return err
		},
		"publisher": func() error { _, err := kafka.NewPublisher(nil); return err },
	} {
		if err := f(); !errors.Is(err, brokers.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
}
