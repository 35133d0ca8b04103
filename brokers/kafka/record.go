package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemkit/idem/brokers"
)

// message is the record as the inbox sees it.
func message(r *kgo.Record) brokers.Message {
	hs := make([]brokers.Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = brokers.Header{Key: h.Key, Value: string(h.Value)}
	}
	return brokers.Message{Topic: r.Topic, Key: string(r.Key), Value: r.Value, Headers: hs,
		Source: fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)}
}

// Record returns the record that carries m: its topic, key, value and headers.
func Record(m brokers.Message) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Value: m.Value, Headers: make([]kgo.RecordHeader, len(m.Headers))}
	if m.Key != "" {
		r.Key = []byte(m.Key)
	}
	for i, h := range m.Headers {
		r.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)}
	}
	return r
}
