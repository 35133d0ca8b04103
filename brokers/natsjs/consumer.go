package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemkit/idem/brokers"
)

// Consumer consumes the partitions of a command subject of a JetStream stream
// into a brokers.Inbox. See the package doc for what is acknowledged when.
type Consumer struct {
	inbox   *brokers.Inbox
	js      jetstream.JetStream
	stream  string
	subject string
	cfg     config
	log     *slog.Logger
	pub     *Publisher
	ran     atomic.Bool
	stats   counters
}

// Stats are a consumer's counters (G12); the inbox has its own.
type Stats struct {
	// Acknowledged counts messages acknowledged (confirmed by the server).
	Acknowledged uint64
	// AckFailures counts acknowledgements that were not confirmed: the message
	// will be delivered again and answered as a duplicate.
	AckFailures uint64
	// HandedBack counts messages negatively acknowledged at shutdown, their
	// outcome unknown, for another process to take at once.
	HandedBack uint64
}

type counters struct{ acked, ackFailures, handedBack atomic.Uint64 }

// NewConsumer returns a consumer of the partitions of subject ("<subject>.<p>")
// in stream, handing each message to inbox. A nil inbox or js, an empty stream or
// subject, or a bad option fails with brokers.ErrInvalidOption.
func NewConsumer(inbox *brokers.Inbox, js jetstream.JetStream, stream, subject string, opts ...Option) (*Consumer, error) {
	cfg := config{partitions: DefaultPartitions, durable: DefaultDurable, ackWait: DefaultAckWait,
		deadLetter: subject + DefaultDeadLetterSuffix, log: slog.Default()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	switch {
	case inbox == nil || js == nil:
		return nil, invalid("NewConsumer: nil inbox or JetStream")
	case stream == "" || subject == "":
		return nil, invalid("NewConsumer: empty stream or subject")
	}
	pub, err := NewPublisher(js, 0)
	if err != nil {
		return nil, err
	}
	return &Consumer{inbox: inbox, js: js, stream: stream, subject: subject, cfg: cfg, log: cfg.log, pub: pub}, nil
}

// Stats returns a snapshot of the consumer's counters.
func (c *Consumer) Stats() Stats {
	return Stats{Acknowledged: c.stats.acked.Load(), AckFailures: c.stats.ackFailures.Load(), HandedBack: c.stats.handedBack.Load()}
}

// Durable returns the name of partition p's durable consumer.
func (c *Consumer) Durable(p int) string { return fmt.Sprintf("%s-%d", c.cfg.durable, p) }

// Run creates (or updates) the partitions' durable consumers, then consumes
// until ctx ends. The message in flight on each partition is given the inbox's
// grace; one whose outcome is still unknown is handed back. Run returns nil after
// a shutdown by ctx, or the error that kept it from starting; it may be called
// once.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.ran.CompareAndSwap(false, true) {
		return errors.New("natsjs consumer: Run called twice")
	}
	cons := make([]jetstream.Consumer, c.cfg.partitions)
	for p := range cons {
		var err error
		cons[p], err = c.js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
			Durable:       c.Durable(p),
			FilterSubject: Subject(c.subject, p),
			AckPolicy:     jetstream.AckExplicitPolicy,
			// One message in flight per partition, across every process: the
			// server hands out the next only after this one's ack, so an
			// aggregate's commands are handled in order.
			MaxAckPending: 1,
			AckWait:       c.cfg.ackWait,
			MaxDeliver:    -1, // never given up by the server: dead letters are the inbox's
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("natsjs: consumer %s of %s: %w", c.Durable(p), c.stream, err)
		}
	}
	var wg sync.WaitGroup
	for p, cn := range cons {
		wg.Go(func() { c.consume(ctx, p, cn) })
	}
	wg.Wait()
	return nil
}

// consume pulls one partition's messages, one at a time, until ctx ends.
func (c *Consumer) consume(ctx context.Context, p int, cn jetstream.Consumer) {
	for ctx.Err() == nil {
		// One message per pull: MaxAckPending 1 lets no more out anyway, and a
		// request never holds a message another process could take.
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		batch, err := cn.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				c.log.Warn("natsjs: pull", "consumer", c.Durable(p), "error", err)
				sleep(ctx, 100*time.Millisecond)
			}
			continue
		}
		for msg := range batch.Messages() {
			c.handle(ctx, msg)
		}
		cancel()
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			c.log.Warn("natsjs: pull", "consumer", c.Durable(p), "error", err)
			sleep(ctx, 100*time.Millisecond)
		}
	}
}

// handle decides one message and acknowledges it once its outcome is known.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	m := message(c.stream, msg, c.subject)
	// While the outcome is unknown, the message stays ours: its ack deadline is
	// pushed back, so no other process handles it out of order.
	keep := keepInProgress(msg, c.cfg.ackWait/3)
	_, err := c.inbox.Process(ctx, m, brokers.DeadLettererFunc(c.deadLetter))
	keep()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ackWait)
	defer cancel()
	if err != nil {
		// Shutting down with the outcome unknown: hand it back now rather than
		// after AckWait.
		_ = msg.Nak()
		c.stats.handedBack.Add(1)
		return
	}
	if err := msg.DoubleAck(actx); err != nil {
		c.stats.ackFailures.Add(1)
		c.log.Warn("natsjs: ack not confirmed; the message will be delivered again", "source", m.Source, "error", err)
		return
	}
	c.stats.acked.Add(1)
}

// deadLetter publishes a dead letter to the dead-letter subject, with the
// command's headers (its Idempotency-Key among them, so a redrive is the same
// command). Its Nats-Msg-Id is its source's stream sequence: the same message
// refused twice (delivered again after a crash) is stored once, and a redriven
// copy refused again is not mistaken for it.
func (c *Consumer) deadLetter(ctx context.Context, d brokers.DeadLetter) error {
	m := d.Message
	m.Headers = d.Headers()
	_, err := c.pub.send(ctx, c.cfg.deadLetter, "dead-letter:"+d.Message.Source, m)
	return err
}

// keepInProgress tells the server every interval that msg is still being
// handled, until the returned function is called.
func keepInProgress(msg jetstream.Msg, every time.Duration) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
