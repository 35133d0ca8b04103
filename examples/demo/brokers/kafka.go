package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/kafka"
)

// kafkaBroker is a Kafka cluster in this process (franz-go's kfake, which
// speaks the Kafka protocol): the workers connect to it over TCP.
type kafkaBroker struct {
	cluster    *kfake.Cluster
	producer   *kgo.Client
	partitions int
}

func startKafka(partitions int) (*kafkaBroker, error) {
	// Killed workers are replaced by static members; a short minimum session
	// timeout bounds how long the group waits for one that does not come back.
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), commandTopic),
		kfake.GroupMinSessionTimeout(500*time.Millisecond),
		kfake.SeedTopics(1, commandTopic+kafka.DefaultDeadLetterSuffix))
	if err != nil {
		return nil, fmt.Errorf("start Kafka cluster: %w", err)
	}
	// The producer picks each record's partition itself (the key's, or another
	// for a race), with idempotence on, as franz-go does by default.
	p, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		c.Close()
		return nil, err
	}
	return &kafkaBroker{cluster: c, producer: p, partitions: partitions}, nil
}

func (k *kafkaBroker) name() string {
	return fmt.Sprintf("Kafka (franz-go's in-process kfake cluster, %d partitions, a consumer group)", k.partitions)
}

func (k *kafkaBroker) settings() settings {
	return settings{Broker: "kafka", Addrs: k.cluster.ListenAddrs(), Partitions: k.partitions}
}

func (k *kafkaBroker) publish(m brokers.Message, partition int, done func(error)) {
	r := kafka.Record(m)
	r.Partition = int32(partition)
	k.producer.Produce(context.Background(), r, func(_ *kgo.Record, err error) { done(err) })
}

func (k *kafkaBroker) flush(ctx context.Context) error { return k.producer.Flush(ctx) }

func (k *kafkaBroker) deadLetters(ctx context.Context, f func(brokers.Message)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.cluster.ListenAddrs()...), kgo.ConsumeTopics(commandTopic+kafka.DefaultDeadLetterSuffix),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			m := brokers.Message{Topic: r.Topic, Key: string(r.Key), Value: r.Value}
			for _, h := range r.Headers {
				m.Headers = append(m.Headers, brokers.Header{Key: h.Key, Value: string(h.Value)})
			}
			f(m)
		})
	}
	return nil
}

func (k *kafkaBroker) close() {
	k.producer.Close()
	k.cluster.Close()
}
