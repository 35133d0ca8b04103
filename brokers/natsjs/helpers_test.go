package natsjs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/internal/brokertest"
	"github.com/idemkit/idem/brokers/natsjs"
)

// childEnv makes the test binary a child process of a test (see TestMain).
const childEnv = "IDEM_NATS_TEST_CHILD"

// TestMain lets the test binary serve as the child processes the incident tests
// SIGKILL.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(childMain(spec))
	}
	os.Exit(m.Run())
}

// server starts a NATS server with JetStream in this process and returns its
// URL.
func server(t *testing.T) string {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL()
}

// connect returns a JetStream context on url.
func connect(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	js, err := dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(js.Conn().Close)
	return js
}

func dial(url string) (jetstream.JetStream, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	return jetstream.New(nc)
}

// stream creates the stream name capturing subject and everything below it.
func stream(t *testing.T, js jetstream.JetStream, name, subject string) {
	t.Helper()
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{subject + ".>"}}); err != nil {
		t.Fatal(err)
	}
}

// publish publishes the messages in order, each under its idempotency key.
func publish(t *testing.T, js jetstream.JetStream, partitions int, ms []brokers.Message) {
	t.Helper()
	pub, err := natsjs.NewPublisher(js, partitions)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		id, _ := m.Header(brokers.HeaderIdempotencyKey)
		if _, err := pub.Publish(context.Background(), id, m); err != nil {
			t.Fatal(err)
		}
	}
}

// running is a consumer run in a goroutine.
type running struct {
	c      *natsjs.Consumer
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, js jetstream.JetStream, in *brokers.Inbox, partitions int, opts ...natsjs.Option) *running {
	t.Helper()
	opts = append([]natsjs.Option{natsjs.WithPartitions(partitions), natsjs.WithLogger(brokertest.Quiet()), natsjs.WithAckWait(time.Second)}, opts...)
	c, err := natsjs.NewConsumer(in, js, "CMDS", "cmds", opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

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

// readSubject reads every message of the stream's subject filter from the
// start, until n were read.
func readSubject(t *testing.T, js jetstream.JetStream, streamName, filter string, n int) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, streamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < n {
		msg, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read %d of %d messages of %s: %v", len(out), n, filter, err)
		}
		out = append(out, msg)
	}
	return out
}

// child is what a child process is told to do.
type child struct {
	Role        string `json:"role"` // "consumer" or "relay"
	URL         string `json:"url"`
	DB          string `json:"db"`
	Partitions  int    `json:"partitions"`
	KillAfter   int    `json:"kill_after"`
	Checkpoints string `json:"checkpoints,omitempty"`
}

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
