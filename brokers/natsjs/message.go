package natsjs

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemkit/idem/brokers"
)

// message is the JetStream message as the inbox sees it. Its key is the
// HeaderPartitionKey header; its topic is the subject without the partition.
func message(stream string, msg jetstream.Msg, topic string) brokers.Message {
	m := brokers.Message{Topic: topic, Value: msg.Data()}
	for k, vs := range msg.Headers() {
		for _, v := range vs {
			m.Headers = append(m.Headers, brokers.Header{Key: k, Value: v})
		}
	}
	m.Key, _ = m.Header(brokers.HeaderPartitionKey)
	if md, err := msg.Metadata(); err == nil {
		m.Source = fmt.Sprintf("%s#%d", stream, md.Sequence.Stream)
	} else {
		m.Source = stream + "#?"
	}
	return m
}

// natsMsg is the NATS message that carries m to subject, its key in the
// HeaderPartitionKey header.
func natsMsg(subject string, m brokers.Message) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Data = m.Value
	for _, h := range m.Headers {
		msg.Header.Add(h.Key, h.Value)
	}
	if m.Key != "" {
		msg.Header.Set(brokers.HeaderPartitionKey, m.Key)
	}
	return msg
}
