package command_test

import (
	"errors"
	"testing"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
)

func FuzzDecodeMetadata(f *testing.F) {
	f.Add([]byte(`{"command_id":"c","fingerprint":"f","index":0,"count":1}`))
	f.Add([]byte(`{"command_id":"c","index":3,"count":2}`))
	f.Add([]byte(`{"command_id":"","count":1}`))
	f.Add([]byte(`{"command_id":"c","count":1,"user":{"a":"b"}}`))
	f.Add([]byte(`{"command_id":"c","count":1,"user":{"a":1}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`{"by":"storetest"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := command.DecodeMetadata(data)
		if err != nil {
			if !errors.Is(err, command.ErrInvalidMetadata) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		// What decodes, re-encodes and decodes to the same metadata.
		m2, err := command.DecodeMetadata(m.Encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if m2.CommandID != m.CommandID || m2.Index != m.Index || m2.Count != m.Count || m2.Fingerprint != m.Fingerprint {
			t.Fatalf("round trip: %+v != %+v", m2, m)
		}
	})
}

// unregistered is a command of the domain that the codec does not know.
type unregistered struct{ X int }

func (unregistered) isAccountCommand() {}

// strayEvent is an event of the domain that the codec does not know.
type strayEvent struct{}

func (strayEvent) isAccountEvent() {}

// FuzzCommandEnvelope sends arbitrary envelopes through a real handler: no panic,
// only typed errors, and a refused command writes nothing.
func FuzzCommandEnvelope(f *testing.F) {
	store := memory.New()
	f.Cleanup(func() { _ = store.Close() })
	h := newHandler(f, store)
	f.Add("c1", "a1", 0, 10, "corr", "cause", "k", "v")
	f.Add("", "a1", 1, 10, "", "", "", "")
	f.Add("c2", "", 1, 10, "", "", "", "")
	f.Add("c3", "a b", 1, -5, "", "", "", "")
	f.Add("c1", "a1", 1, 11, "", "", "", "")
	f.Add("c4", "a1", 2, 1000, "", "", "", "")
	f.Add("c5", "a1", 3, 1, "", "", "", "")
	f.Add("c\x00", "\xff", 4, 1, "", "", "", "")
	f.Fuzz(func(t *testing.T, id, aggID string, kind, amount int, corr, cause, mk, mv string) {
		var payload AccountCommand
		switch kind % 5 {
		case 0:
			payload = Deposit{Amount: amount}
		case 1:
			payload = Withdraw{Amount: amount}
		case 2:
			payload = Open{Owner: mk}
		case 3:
			payload = nil
		default:
			payload = unregistered{X: amount}
		}
		stream := "account-" + aggID
		before := len(streamEventsCtx(t.Context(), store, stream))
		_, err := h.Handle(t.Context(), cmd{ID: id, AggregateID: aggID, Payload: payload,
			CorrelationID: corr, CausationID: cause, Metadata: map[string]string{mk: mv}})
		if err == nil {
			return
		}
		typed := false
		for _, target := range []error{command.ErrInvalidCommand, command.ErrRejected, command.ErrIdempotencyKeyReused,
			eventstore.ErrAppendTooLarge, eventstore.ErrInvalidEvent} {
			typed = typed || errors.Is(err, target)
		}
		if !typed {
			t.Fatalf("untyped error: %v", err)
		}
		if after := len(streamEventsCtx(t.Context(), store, stream)); after != before {
			t.Fatalf("a refused command wrote %d events", after-before)
		}
	})
}
