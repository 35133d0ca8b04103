package natsjs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/internal/brokertest"
	"github.com/idemkit/idem/brokers/natsjs"
	"github.com/idemkit/idem/command"
)

// A consumer SIGKILLed after Handle and before its ack: once AckWait passes the
// server delivers the message again, and it is absorbed as a duplicate.
func TestConsumerKilledAfterHandleBeforeAck(t *testing.T) {
	url := server(t)
	js := connect(t, url)
	stream(t, js, "CMDS", "cmds")
	env := brokertest.NewEnv(t)
	cs := brokertest.Deposits(300, 30)
	publish(t, js, 4, env.Messages(t, "cmds", cs))

	st := runChild(t, child{Role: "consumer", URL: url, DB: env.Path, Partitions: 4, KillAfter: 120})
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", st)
	}
	appliedByChild := len(env.Applied(t))

	in := env.Inbox(t)
	r := start(t, js, in, 4)
	waitFor(t, "every command applied", 60*time.Second, func() bool { return len(env.Applied(t)) == len(cs) })
	waitFor(t, "every message acknowledged", 60*time.Second, func() bool {
		return in.Stats().Processed == uint64(len(cs)-appliedByChild)+in.Stats().Duplicates
	})
	r.stop(t)
	env.CheckAppliedOnce(t, cs)
	s := in.Stats()
	t.Logf("child applied %d before SIGKILL; replacement: %d applied, %d duplicates absorbed (applied, unacknowledged)", appliedByChild, s.Applied, s.Duplicates)
	if s.Applied != uint64(len(cs)-appliedByChild) || s.Duplicates == 0 {
		t.Fatalf("stats %+v: want %d applied and the killed command absorbed as a duplicate", s, len(cs)-appliedByChild)
	}
}

// consumeUntilKilled is the child of TestConsumerKilledAfterHandleBeforeAck.
func consumeUntilKilled(c child) error {
	ctx := context.Background()
	env, err := brokertest.OpenEnv(ctx, c.DB)
	if err != nil {
		return err
	}
	js, err := dial(c.URL)
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
	cons, err := natsjs.NewConsumer(in, js, "CMDS", "cmds", natsjs.WithPartitions(c.Partitions),
		natsjs.WithLogger(brokertest.Quiet()), natsjs.WithAckWait(time.Second))
	if err != nil {
		return err
	}
	return cons.Run(ctx)
}

// An operator rewinds a consumer by 1,000 messages (JetStream's consumer reset):
// the 1,000 come back and every one is absorbed as a duplicate.
func TestConsumerRewoundByAThousand(t *testing.T) {
	url := server(t)
	js := connect(t, url)
	stream(t, js, "CMDS", "cmds")
	env := brokertest.NewEnv(t)
	cs := brokertest.Deposits(1500, 50)
	publish(t, js, 1, env.Messages(t, "cmds", cs))
	in := env.Inbox(t)
	r := start(t, js, in, 1)
	waitFor(t, "1,500 messages handled", 60*time.Second, func() bool { return in.Stats().Processed == 1500 })
	r.stop(t)

	if _, err := js.ResetConsumerToSequence(context.Background(), "CMDS", r.c.Durable(0), 501); err != nil {
		t.Fatal(err)
	}
	in2 := env.Inbox(t)
	r2 := start(t, js, in2, 1)
	waitFor(t, "the rewound 1,000 handled", 60*time.Second, func() bool { return in2.Stats().Processed == 1000 })
	r2.stop(t)
	env.CheckAppliedOnce(t, cs)
	if s := in2.Stats(); s.Duplicates != 1000 || s.Applied != 0 {
		t.Fatalf("after the rewind: %+v, want 1000 duplicates absorbed and nothing applied", s)
	}
}

// A replay job republishes the subject. Within the duplicate window, under the
// original message ids, JetStream drops every copy itself; a replay that stamps
// its own message ids (or runs after the window) gets every copy stored, and the
// command handler absorbs them all.
func TestSubjectRepublishedByAReplayJob(t *testing.T) {
	url := server(t)
	js := connect(t, url)
	stream(t, js, "CMDS", "cmds")
	env := brokertest.NewEnv(t)
	cs := brokertest.Deposits(600, 30)
	ms := env.Messages(t, "cmds", cs)
	publish(t, js, 4, ms)
	in := env.Inbox(t)
	start(t, js, in, 4)
	waitFor(t, "600 handled", 60*time.Second, func() bool { return in.Stats().Processed == 600 })

	pub, err := natsjs.NewPublisher(js, 4)
	if err != nil {
		t.Fatal(err)
	}
	droppedByBroker := 0
	for _, m := range ms {
		id, _ := m.Header(brokers.HeaderIdempotencyKey)
		dup, err := pub.Publish(context.Background(), id, m)
		if err != nil {
			t.Fatal(err)
		}
		if dup {
			droppedByBroker++
		}
	}
	if droppedByBroker != 600 {
		t.Fatalf("JetStream dropped %d of 600 copies within its window, want all", droppedByBroker)
	}
	// A replay job that stamps broker message ids of its own (or runs after the
	// window): the broker cannot tell, idem can.
	for _, msg := range readSubject(t, js, "CMDS", "cmds.*", 600) {
		again := nats.NewMsg(msg.Subject())
		again.Data, again.Header = msg.Data(), msg.Headers()
		again.Header.Del(jetstream.MsgIDHeader)
		if _, err := js.PublishMsg(context.Background(), again, jetstream.WithMsgID("replay-"+uuid.NewString())); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the 600 replayed copies handled", 60*time.Second, func() bool { return in.Stats().Processed == 1200 })
	env.CheckAppliedOnce(t, cs)
	if s := in.Stats(); s.Duplicates != 600 || s.Applied != 600 {
		t.Fatalf("stats %+v: want 600 applied, then 600 duplicates absorbed", s)
	}
}

// Consumer processes join and leave mid-batch (JetStream's counterpart of a
// rebalance): the one leaving hands back what it was handling, nothing is lost,
// every command is applied once.
func TestProcessesJoinAndLeaveMidBatch(t *testing.T) {
	url := server(t)
	js := connect(t, url)
	stream(t, js, "CMDS", "cmds")
	env := brokertest.NewEnv(t)
	cs := brokertest.Deposits(1200, 120)
	publish(t, js, 8, env.Messages(t, "cmds", cs))
	h := brokers.Commands(env.Handler, env.Codec)
	slow := func() *brokers.Inbox {
		in, err := brokers.NewInbox(brokers.HandlerFunc(func(ctx context.Context, d brokers.Delivery) (command.Result, error) {
			time.Sleep(time.Millisecond)
			return h.Handle(ctx, d)
		}), brokers.WithLogger(brokertest.Quiet()))
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	a, b := slow(), slow()
	ra := start(t, js, a, 8)
	waitFor(t, "a mid-batch", 60*time.Second, func() bool { return a.Stats().Processed >= 200 })
	rb := start(t, js, b, 8)
	waitFor(t, "b sharing the partitions", 60*time.Second, func() bool { return b.Stats().Processed >= 100 })
	ra.stop(t) // a leaves mid-batch
	waitFor(t, "every command applied", 60*time.Second, func() bool { return len(env.Applied(t)) == len(cs) })
	waitFor(t, "every message acknowledged", 60*time.Second, func() bool {
		return a.Stats().Processed+b.Stats().Processed >= uint64(len(cs))
	})
	rb.stop(t)
	env.CheckAppliedOnce(t, cs)
	sa, sb := a.Stats(), b.Stats()
	t.Logf("a: %d applied, %d duplicates, %d handed back; b: %d applied, %d duplicates", sa.Applied, sa.Duplicates, ra.c.Stats().HandedBack, sb.Applied, sb.Duplicates)
	if sa.Applied+sb.Applied != uint64(len(cs)) {
		t.Fatalf("applied %d + %d, want %d", sa.Applied, sb.Applied, len(cs))
	}
}

// Permanent refusals go to the dead-letter subject with their reason and the
// command's idempotency key, and are acknowledged.
func TestDeadLettersAreAcknowledged(t *testing.T) {
	url := server(t)
	js := connect(t, url)
	stream(t, js, "CMDS", "cmds")
	env := brokertest.NewEnv(t)
	good := env.Messages(t, "cmds", brokertest.Deposits(10, 3))
	rejected := env.Messages(t, "cmds", []command.Command[brokertest.Command]{{ID: "zero", AggregateID: "acct-000", Payload: brokertest.Deposit{}}})[0]
	publish(t, js, 2, append(good, rejected))
	noKey := good[0]
	noKey.Headers = noKey.Headers[1:]
	pub, err := natsjs.NewPublisher(js, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(context.Background(), "x", noKey); err != nil {
		t.Fatal(err)
	}
	in := env.Inbox(t, brokers.WithKeyFunc(func(m brokers.Message) (string, error) {
		if k, _ := m.Header(brokers.HeaderIdempotencyKey); k != "x" {
			return k, nil
		}
		return "", errors.New("a key the sender invented")
	}))
	r := start(t, js, in, 2)
	waitFor(t, "12 handled", 60*time.Second, func() bool { return r.c.Stats().Acknowledged == 12 })
	dead := readSubject(t, js, "CMDS", "cmds.dead-letter", 2)
	reasons := map[string]string{}
	for _, msg := range dead {
		reasons[msg.Headers().Get(brokers.HeaderDeadLetterReason)] = msg.Headers().Get(brokers.HeaderIdempotencyKey)
	}
	if reasons[string(brokers.ReasonRejected)] != "zero" || reasons[string(brokers.ReasonNoIdempotencyKey)] == "" {
		t.Fatalf("dead letters (reason -> key) %v", reasons)
	}
	if s := in.Stats(); s.Applied != 10 || s.DeadLettered != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNewConsumerRefusesBadOptions(t *testing.T) {
	env := brokertest.NewEnv(t)
	in := env.Inbox(t)
	var js jetstream.JetStream = nil
	for name, err := range map[string]error{
		"nil js":     func() error { _, err := natsjs.NewConsumer(in, js, "S", "s"); return err }(),
		"partitions": func() error { _, err := natsjs.NewConsumer(in, nil, "S", "s", natsjs.WithPartitions(0)); return err }(),
		"ack wait":   func() error { _, err := natsjs.NewConsumer(in, nil, "S", "s", natsjs.WithAckWait(0)); return err }(),
		"publisher":  func() error { _, err := natsjs.NewPublisher(nil, 1); return err }(),
	} {
		if !errors.Is(err, brokers.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
}
