package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// ErrInvalidMetadata: event metadata is not the JSON object idem writes.
var ErrInvalidMetadata = errors.New("invalid event metadata")

// Marker event types. They live in the aggregate's stream, carry Metadata like any
// other event, and are never passed to Evolve.
const (
	// RejectedEventType records a rejection (RecordRejections); its data is
	// {"error": "<text>"}.
	RejectedEventType = "$idem.rejected"
	// NoOpEventType records a command that decided no events (RecordNoOps).
	NoOpEventType = "$idem.noop"
)

// Metadata is the metadata idem writes on every event a command causes (G3). It is
// a small JSON object; projections and the testkit read it with DecodeMetadata.
type Metadata struct {
	CommandID     string `json:"command_id"`
	Fingerprint   string `json:"fingerprint"`
	CommandType   string `json:"command_type,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	// Index is the event's 0-based index among the command's events; Count is how
	// many events the command wrote.
	Index int `json:"index"`
	Count int `json:"count"`
	// Attempt identifies the handler's append that wrote the command's events (on
	// its first event only): after an append whose outcome was unknown, it tells
	// the handler whether the events it then finds are its own or another
	// handler's (G4).
	Attempt string `json:"attempt,omitempty"`
	// Trace is the W3C trace context (traceparent, tracestate) of the command's
	// span, when the handler ran under a tracer: a projection's or a reactor's span
	// links back to the command that caused the event (G12).
	Trace map[string]string `json:"trace,omitempty"`
	// User holds the command's Metadata.
	User map[string]string `json:"user,omitempty"`
}

// Encode returns m as JSON. Every field is a string, an int or a map of strings, so
// encoding cannot fail (invalid UTF-8 is refused by Command.Validate before).
func (m Metadata) Encode() []byte {
	b, _ := json.Marshal(m)
	return b
}

// DecodeMetadata decodes event metadata written by the handler. Metadata without a
// command id (an event not written by a command handler), malformed JSON, or an index
// outside 0..count-1 fail with ErrInvalidMetadata.
func DecodeMetadata(data []byte) (Metadata, error) {
	var m Metadata
	if len(data) == 0 {
		return m, fmt.Errorf("%w: empty", ErrInvalidMetadata)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Metadata{}, fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	switch {
	case m.CommandID == "":
		return Metadata{}, fmt.Errorf("%w: no command_id", ErrInvalidMetadata)
	case len(m.CommandID) > MaxCommandIDLength:
		return Metadata{}, fmt.Errorf("%w: command_id longer than %d bytes", ErrInvalidMetadata, MaxCommandIDLength)
	case m.Count < 1 || m.Index < 0 || m.Index >= m.Count:
		return Metadata{}, fmt.Errorf("%w: index %d of count %d", ErrInvalidMetadata, m.Index, m.Count)
	}
	return m, nil
}

// readMetadata reads the idem metadata of a recorded event. isCommand is false for
// an event no command handler wrote: empty metadata, or JSON without a command_id
// (an import, another tool). Metadata that is not JSON, or whose command fields do
// not decode, fails: it may be the record of a command.
func readMetadata(b []byte) (m Metadata, isCommand bool, err error) {
	if m, ok := scanMetadata(b); ok {
		return m, true, nil
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return Metadata{}, false, nil
	}
	if !json.Valid(b) {
		return Metadata{}, false, fmt.Errorf("%w: not JSON", ErrInvalidMetadata)
	}
	var probe struct {
		CommandID json.RawMessage `json:"command_id"`
	}
	if err := json.Unmarshal(b, &probe); err != nil || probe.CommandID == nil {
		return Metadata{}, false, nil // not an object, or no command id: not a command's
	}
	m, err = DecodeMetadata(b)
	if err != nil {
		return Metadata{}, false, err
	}
	return m, true, nil
}

// newAttemptID returns a random id for one append of a handler: 64 random bits,
// as 16 hex digits.
func newAttemptID() string {
	return strconv.FormatUint(rand.Uint64()|1<<60, 16)
}
