package command

import (
	"encoding/json"
	"errors"
	"fmt"
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
	// User holds the command's Metadata.
	User map[string]string `json:"user,omitempty"`
}

// Encode returns m as JSON.
func (m Metadata) Encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode metadata of command %q: %w", trunc(m.CommandID), err)
	}
	return b, nil
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
	case len(m.CommandID) > MaxIDLength:
		return Metadata{}, fmt.Errorf("%w: command_id longer than %d bytes", ErrInvalidMetadata, MaxIDLength)
	case m.Count < 1 || m.Index < 0 || m.Index >= m.Count:
		return Metadata{}, fmt.Errorf("%w: index %d of count %d", ErrInvalidMetadata, m.Index, m.Count)
	}
	return m, nil
}
