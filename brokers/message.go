package brokers

import "strings"

// Header names idem reads and writes. Lookups ignore case (Message.Header), as
// HTTP's and NATS's do.
const (
	// HeaderIdempotencyKey carries the idempotency key of a command message (the
	// inbox's default) and the event id of a relayed event.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderCommandType names the command's registered type (aggregate.Command),
	// for Commands to decode the value with the codec.
	HeaderCommandType = "Idem-Command-Type"
	// HeaderCorrelationID and HeaderCausationID are copied into the command's
	// envelope by Commands, and set on relayed events from their metadata.
	HeaderCorrelationID = "Idem-Correlation-Id"
	HeaderCausationID   = "Idem-Causation-Id"
	// HeaderPartitionKey carries the partition key on brokers whose messages have
	// no key of their own (NATS).
	HeaderPartitionKey = "Idem-Partition-Key"
	// HeaderEventType, HeaderStream, HeaderRevision and HeaderPosition describe a
	// relayed event; HeaderEventMetadata holds its metadata as stored.
	HeaderEventType     = "Idem-Event-Type"
	HeaderStream        = "Idem-Stream"
	HeaderRevision      = "Idem-Revision"
	HeaderPosition      = "Idem-Position"
	HeaderEventMetadata = "Idem-Event-Metadata"
	// HeaderDeadLetterReason, HeaderDeadLetterError, HeaderDeadLetterTopic and
	// HeaderDeadLetterSource are added to a dead letter: why it was refused (a
	// Reason), the error's text, the topic or subject it was read from, and where
	// in it (partition and offset, or stream sequence).
	HeaderDeadLetterReason = "Idem-Dead-Letter-Reason"
	HeaderDeadLetterError  = "Idem-Dead-Letter-Error"
	HeaderDeadLetterTopic  = "Idem-Dead-Letter-Topic"
	HeaderDeadLetterSource = "Idem-Dead-Letter-Source"
)

// Header is one message header. A message may carry a key more than once.
type Header struct {
	Key, Value string
}

// Message is a message as the inbox and the relay see it, whatever the broker.
type Message struct {
	// Topic is the Kafka topic or the NATS subject.
	Topic string
	// Key is the partition key: the aggregate id of a command, the stream of a
	// relayed event. Messages with one key keep their order (one partition).
	Key string
	// Value is the payload.
	Value []byte
	// Headers are the message's headers, in order.
	Headers []Header
	// Source says where the message was read, for logs and dead letters:
	// "topic/partition@offset" on Kafka, "STREAM#sequence" on JetStream. It is not
	// an id: a republished message gets another one.
	Source string
}

// Header returns the first value of the header key (case ignored) and whether
// the message has it.
func (m Message) Header(key string) (string, bool) {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return h.Value, true
		}
	}
	return "", false
}

// WithHeader returns a copy of m with the header key set to value: every earlier
// value of key (case ignored) is dropped. m's headers are not changed.
func (m Message) WithHeader(key, value string) Message {
	hs := make([]Header, 0, len(m.Headers)+1)
	for _, h := range m.Headers {
		if !strings.EqualFold(h.Key, key) {
			hs = append(hs, h)
		}
	}
	m.Headers = append(hs, Header{Key: key, Value: value})
	return m
}
