package main

import (
	"context"
	"fmt"
	"os"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/natsjs"
)

// natsBroker is a NATS server with JetStream in this process (nats-server
// itself): the workers connect to it over TCP.
type natsBroker struct {
	srv        *natsserver.Server
	dir        string
	nc         *nats.Conn
	js         jetstream.JetStream
	partitions int
}

func startNATS(partitions int) (*natsBroker, error) {
	dir, err := os.MkdirTemp("", "idem-demo-nats-")
	if err != nil {
		return nil, err
	}
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true})
	if err != nil {
		return nil, fmt.Errorf("start NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		return nil, fmt.Errorf("start NATS server: not ready after 10s")
	}
	n := &natsBroker{srv: srv, dir: dir, partitions: partitions}
	if n.nc, err = nats.Connect(srv.ClientURL()); err != nil {
		n.close()
		return nil, err
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		n.close()
		return nil, err
	}
	// One stream holds the partitions and the dead letters.
	if _, err := n.js.CreateStream(context.Background(), jetstream.StreamConfig{Name: commandStream,
		Subjects: []string{commandTopic + ".>"}}); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *natsBroker) name() string {
	return fmt.Sprintf("NATS JetStream (nats-server in process, %d subject partitions, durable pull consumers)", n.partitions)
}

func (n *natsBroker) settings() settings {
	return settings{Broker: "nats", Addrs: []string{n.srv.ClientURL()}, Partitions: n.partitions}
}

func (n *natsBroker) publish(m brokers.Message, partition int, done func(error)) {
	msg := nats.NewMsg(natsjs.Subject(m.Topic, partition))
	msg.Data = m.Value
	for _, h := range m.Headers {
		msg.Header.Set(h.Key, h.Value)
	}
	msg.Header.Set(brokers.HeaderPartitionKey, m.Key)
	// Each publication is a distinct delivery of the plan: it gets its own
	// Nats-Msg-Id, so JetStream's window stores every copy and idem meets them.
	id, _ := m.Header(headerDelivery)
	f, err := n.js.PublishMsgAsync(msg, jetstream.WithMsgID("delivery-"+id))
	if err != nil {
		done(err)
		return
	}
	go func() {
		select {
		case <-f.Ok():
			done(nil)
		case err := <-f.Err():
			done(err)
		}
	}()
}

func (n *natsBroker) flush(ctx context.Context) error {
	select {
	case <-n.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *natsBroker) deadLetters(ctx context.Context, f func(brokers.Message)) error {
	c, err := n.js.OrderedConsumer(ctx, commandStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{commandTopic + natsjs.DefaultDeadLetterSuffix}})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		msg, err := c.Next(jetstream.FetchMaxWait(500 * time.Millisecond))
		if err != nil {
			continue
		}
		m := brokers.Message{Topic: msg.Subject(), Value: msg.Data()}
		for k, vs := range msg.Headers() {
			for _, v := range vs {
				m.Headers = append(m.Headers, brokers.Header{Key: k, Value: v})
			}
		}
		f(m)
	}
	return nil
}

func (n *natsBroker) close() {
	if n.nc != nil {
		n.nc.Close()
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	_ = os.RemoveAll(n.dir)
}
