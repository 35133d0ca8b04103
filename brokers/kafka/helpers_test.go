package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/internal/brokertest"
	"github.com/idemkit/idem/brokers/kafka"
)

// childEnv makes the test binary a child process of a test (see TestMain).
const childEnv = "IDEM_KAFKA_TEST_CHILD"

// TestMain lets the test binary serve as the child processes the incident tests
// SIGKILL.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(childMain(spec))
	}
	os.Exit(m.Run())
}

// cluster starts an in-process Kafka cluster (kfake speaks the Kafka protocol)
// with the topics, each of partitions partitions, and returns its addresses.
func cluster(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// client returns a plain client of the cluster.
func client(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce sends the messages, in order, and waits for their acknowledgements.
func produce(t *testing.T, cl *kgo.Client, ms []brokers.Message) {
	t.Helper()
	recs := make([]*kgo.Record, len(ms))
	for i, m := range ms {
		recs[i] = kafka.Record(m)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readTopic reads every record of topic from the start, until n were read.
func readTopic(t *testing.T, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := client(t, addrs, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		out = append(out, f.Records()...)
	}
	return out
}

// running is a consumer run in a goroutine.
type running struct {
	c      *kafka.Consumer
	cancel context.CancelFunc
	done   chan error
}

// start runs a consumer of topic in group until stop.
func start(t *testing.T, addrs []string, in *brokers.Inbox, group, topic string, opts ...kgo.Opt) *running {
	t.Helper()
	c, err := kafka.NewConsumer(in, group, []string{topic}, kafka.WithLogger(testLogger()), kafka.WithCommitInterval(50*time.Millisecond),
		kafka.WithClientOptions(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop shuts the consumer down and waits for Run.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consumer did not stop within 30s")
	}
}

// waitFor polls cond until it holds or limit passes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// committed returns the group's committed offset of each partition of topic.
func committed(t *testing.T, cl *kgo.Client, group, topic string) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic = topic
	rt.Partitions = []int32{0, 1, 2, 3, 4, 5, 6, 7}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, g := range resp.Groups {
		for _, rt := range g.Topics {
			for _, p := range rt.Partitions {
				if p.Offset >= 0 {
					out[p.Partition] = p.Offset
				}
			}
		}
	}
	return out
}

// commit sets the group's committed offsets of topic, as an operator's offset
// reset does while the group is empty.
func commit(t *testing.T, cl *kgo.Client, group, topic string, offsets map[int32]int64) {
	t.Helper()
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(context.Background(), cl)
	if err != nil || len(mresp.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rt.TopicID = mresp.Topics[0].TopicID // OffsetCommit v10 names topics by id
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("commit %s/%d: error code %d", topic, p.Partition, p.ErrorCode)
			}
		}
	}
}

// child is what a child process is told to do.
type child struct {
	Role      string   `json:"role"` // "consumer" or "relay"
	Addrs     []string `json:"addrs"`
	DB        string   `json:"db"`
	Group     string   `json:"group,omitempty"`
	Topic     string   `json:"topic"`
	Instance  string   `json:"instance,omitempty"`
	KillAfter int      `json:"kill_after"`
	// Checkpoints is the relay's reactor database.
	Checkpoints string `json:"checkpoints,omitempty"`
}

// runChild runs the test binary as a child and waits for it to die.
func runChild(t *testing.T, spec child) *os.ProcessState {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		<-ctx.Done()
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}()
	_ = cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatal("child did not start")
	}
	return cmd.ProcessState
}

func childMain(spec string) int {
	var c child
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	var err error
	switch c.Role {
	case "consumer":
		err = consumeUntilKilled(c)
	case "relay":
		err = relayUntilKilled(c)
	default:
		err = fmt.Errorf("unknown role %q", c.Role)
	}
	fmt.Fprintln(os.Stderr, "child:", err)
	return 1
}

func testLogger() *slog.Logger {
	if os.Getenv("KAFKA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return brokertest.Quiet()
}
