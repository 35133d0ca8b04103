package command

import (
	"crypto/sha1"
	"encoding/json"
	"strconv"

	"github.com/google/uuid"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/jsonsize"
)

// eventNamespace is the UUID namespace of event ids; fixed forever.
var eventNamespace = uuid.MustParse("3c8f0a2e-7b1d-5e4f-9a6c-2d1e0f3b4a5c")

// EventID returns the id of the index-th event that command commandID writes to
// stream. Deriving it instead of drawing it at random makes a retried append carry
// the same ids, so the store recognises it (G2, G3), and lets a store that finds
// events by id (eventstore.EventFinder) answer "was this command recorded here?"
// with one lookup. The same command id with another payload gets the same ids: when
// the store answers such an append as a replay, the handler compares the recorded
// fingerprint with the new one and reports ErrIdempotencyKeyReused.
func EventID(stream, commandID string, index int) uuid.UUID {
	// uuid.NewSHA1(eventNamespace, stream NUL commandID NUL index), computed in a
	// stack buffer: every command derives one id per event and looks one up.
	var buf [160]byte
	b := append(buf[:0], eventNamespace[:]...)
	b = append(b, stream...)
	b = append(b, 0)
	b = append(b, commandID...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(index), 10)
	sum := sha1.Sum(b)
	var id uuid.UUID
	copy(id[:], sum[:])
	id[6] = (id[6] & 0x0f) | 0x50 // version 5
	id[8] = (id[8] & 0x3f) | 0x80 // RFC 4122 variant
	return id
}

// encodeEvents turns the decider's events into EventData with derived ids and idem
// metadata (the attempt id on the first event only). An unregistered event type,
// or events larger than the append limit, fail here, before anything is written:
// a huge event is refused before it is encoded whole (G11).
func (h *Handler[S, C, E]) encodeEvents(cl *call[C], events []E) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, len(events))
	meta := cl.meta
	meta.Count = len(events)
	_, isJSON := h.codec.Serializer().(aggregate.JSON)
	limit, size := h.cfg.maxAppendSize, 0
	tooLarge := func(i, size int) error {
		return cl.errorf("event #%d: %w", i, &eventstore.AppendTooLargeError{Size: size, Limit: limit})
	}
	for i, e := range events {
		if isJSON {
			if floor := jsonsize.Floor(e, limit-size); size+floor > limit {
				return nil, tooLarge(i, size+floor)
			}
		}
		name, data, err := h.codec.EncodeEvent(e)
		if err != nil {
			return nil, cl.errorf("event #%d: %w", i, err)
		}
		meta.Index = i
		if i == 1 {
			meta.Attempt = "" // the first event carries it
		}
		md := meta.Encode()
		if size += len(name) + len(data) + len(md); size > limit {
			return nil, tooLarge(i, size)
		}
		out[i] = eventstore.EventData{ID: EventID(cl.stream, cl.cmd.ID, i), Type: name, Data: data, Metadata: md}
	}
	return out, nil
}

// markerEvent builds the marker event of a recorded rejection or no-op.
func markerEvent(stream string, meta Metadata, typ, rejection string) eventstore.EventData {
	meta.Index, meta.Count = 0, 1
	data := []byte("{}")
	if typ == RejectedEventType {
		data, _ = json.Marshal(map[string]string{"error": rejection}) // a map of strings always encodes
	}
	return eventstore.EventData{ID: EventID(stream, meta.CommandID, 0), Type: typ, Data: data, Metadata: meta.Encode()}
}

// recorded builds the RecordedEvents of an append from what was sent and what the
// store answered: revisions are known, Position only for the last event.
func recorded(stream string, data []eventstore.EventData, res eventstore.AppendResult) []eventstore.RecordedEvent {
	out := recordedFrom(stream, data, res.Revision+1-uint64(len(data)))
	out[len(out)-1].Position = res.Position
	return out
}

// recordedFrom builds the RecordedEvents of data written from revision first on.
func recordedFrom(stream string, data []eventstore.EventData, first uint64) []eventstore.RecordedEvent {
	out := make([]eventstore.RecordedEvent, len(data))
	for i, d := range data {
		out[i] = eventstore.RecordedEvent{ID: d.ID, Stream: stream, Revision: first + uint64(i), Type: d.Type, Data: d.Data, Metadata: d.Metadata}
	}
	return out
}
