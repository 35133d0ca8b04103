package command

import (
	"encoding/json"
	"time"
)

// ProcessedCommand is one entry of an aggregate's processed command set: a command
// id and what it produced, so that a duplicate returns the original result (G3).
type ProcessedCommand struct {
	// ID is the command id (the idempotency key).
	ID string `json:"id"`
	// Fingerprint is the fingerprint of the command's payload.
	Fingerprint string `json:"fp"`
	// FirstRevision and LastRevision bound the events the command wrote.
	FirstRevision uint64 `json:"first"`
	LastRevision  uint64 `json:"last"`
	// RecordedAt is when the command's events were recorded.
	RecordedAt time.Time `json:"at"`
	// Rejection holds the text of a recorded rejection (a marker event, no domain
	// events); empty otherwise.
	Rejection string `json:"rejection,omitempty"`
	// NoOp is true for a recorded no-op (a marker event, no domain events).
	NoOp bool `json:"noop,omitempty"`
}

// snapshotRecord is what the handler keeps in an eventstore.Snapshot's Data (G7):
// the state, encoded by the codec's serializer, and, for stores that cannot find a
// command's events by id, the processed command set.
type snapshotRecord struct {
	// Version is WithSnapshotVersion's: a record of another version is ignored.
	Version int `json:"v"`
	// State is the encoded state.
	State []byte `json:"state"`
	// Processed is the processed command set at the snapshot's revision, when the
	// store cannot look commands up (EventStoreDB); Complete says whether it holds
	// every command of the stream up to there (no dedupe window pruned it).
	Processed []ProcessedCommand `json:"processed,omitempty"`
	Complete  bool               `json:"complete,omitempty"`
}

func (r snapshotRecord) encode() ([]byte, error) { return json.Marshal(r) }

func decodeSnapshotRecord(data []byte) (snapshotRecord, error) {
	var r snapshotRecord
	err := json.Unmarshal(data, &r)
	return r, err
}
