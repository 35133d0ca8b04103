package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/kafka"
	"github.com/idemkit/idem/brokers/natsjs"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/examples/demo/internal/demo"
)

// runWorker is a worker process: a broker consumer whose inbox hands each
// message to the demo's command handlers, until its standard input ends.
func runWorker(ctx context.Context) error {
	var s settings
	if err := json.Unmarshal([]byte(os.Getenv(brokerEnv)), &s); err != nil {
		return fmt.Errorf("bad %s: %w", brokerEnv, err)
	}
	h, role, closeStore, err := demo.OpenWorker(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the parent closes our input to stop us
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	out := &reporter{w: bufio.NewWriter(os.Stdout)}
	in, err := brokers.NewInbox(brokers.HandlerFunc(func(ctx context.Context, d brokers.Delivery) (command.Result, error) {
		var m demo.Message
		if err := json.Unmarshal(d.Value, &m); err != nil {
			return command.Result{}, fmt.Errorf("%w: %w", brokers.ErrUndecodable, err)
		}
		m.CommandID = d.IdempotencyKey // the key is the message's, never the value's
		res, handled, err := h.Handle(ctx, m)
		id, _ := d.Header(headerDelivery)
		delivery, _ := strconv.ParseUint(id, 10, 64)
		out.write(report{Delivery: delivery, Seq: m.Seq, Handled: &handled})
		return res, err
	}),
		brokers.WithClassifier(func(err error) brokers.Reason {
			if demo.Later(err) {
				return reasonRetryLater
			}
			return brokers.Classify(err)
		}),
		brokers.WithBackoff(5*time.Millisecond, 500*time.Millisecond),
		brokers.WithLogger(warnings()))
	if err != nil {
		return err
	}

	stopStats := out.every(100*time.Millisecond, h.Stats)
	defer stopStats()
	switch s.Broker {
	case "kafka":
		err = consumeKafka(ctx, s, in, role)
	case "nats":
		err = consumeNATS(ctx, s, in)
	default:
		err = fmt.Errorf("unknown broker %q", s.Broker)
	}
	return err
}

func consumeKafka(ctx context.Context, s settings, in *brokers.Inbox, role demo.WorkerRole) error {
	c, err := kafka.NewConsumer(in, "demo-workers", []string{commandTopic}, kafka.WithLogger(warnings()),
		kafka.WithCommitInterval(200*time.Millisecond),
		kafka.WithClientOptions(kgo.SeedBrokers(s.Addrs...),
			// Static membership: a worker killed and restarted in its slot takes its
			// partitions back at once instead of waiting out a session timeout.
			kgo.InstanceID("demo-worker-"+strconv.Itoa(role.Slot)),
			kgo.SessionTimeout(2*time.Second), kgo.HeartbeatInterval(300*time.Millisecond)))
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

func consumeNATS(ctx context.Context, s settings, in *brokers.Inbox) error {
	nc, err := nats.Connect(s.Addrs[0])
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	c, err := natsjs.NewConsumer(in, js, commandStream, commandTopic, natsjs.WithPartitions(s.Partitions),
		natsjs.WithAckWait(natsAckWait), natsjs.WithLogger(warnings()))
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// reporter writes report lines to the parent.
type reporter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

// write writes and flushes one line: a delivery's report reaches the parent
// before the message is acknowledged.
func (r *reporter) write(rep report) {
	b, _ := json.Marshal(rep)
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(append(b, '\n'))
	_ = r.w.Flush()
}

// every reports the counters every d, and once more when stopped.
func (r *reporter) every(d time.Duration, stats func() command.Stats) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				s := stats()
				r.write(report{Stats: &s})
				return
			case <-t.C:
				s := stats()
				r.write(report{Stats: &s})
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// warnings is the workers' logger: warnings and errors, to standard error.
func warnings() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
