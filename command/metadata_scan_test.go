package command

import (
	"encoding/json"
	"testing"
)

// FuzzScanMetadata checks the fast metadata scanner against DecodeMetadata: when it
// accepts, it agrees with encoding/json; and it accepts everything Encode writes
// without escapes.
func FuzzScanMetadata(f *testing.F) {
	for _, m := range []Metadata{
		{CommandID: "c", Fingerprint: "f", Index: 0, Count: 1},
		{CommandID: "c-1", Fingerprint: "abc", CommandType: "t", CorrelationID: "co\"rr", CausationID: "ca", Index: 1, Count: 3, User: map[string]string{"index": "9"}},
		{CommandID: "c-2", Fingerprint: "abc", Index: 0, Count: 2, Attempt: "1f00aa"},
	} {
		f.Add(m.Encode())
	}
	f.Add([]byte(`{"command_id":"c","fingerprint":"f","index":0,"count":1,"user":{"a":1}}`))
	f.Add([]byte(`{"command_id":"c","fingerprint":"f","index":01,"count":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := scanMetadata(b)
		if !ok {
			return
		}
		slow, err := DecodeMetadata(b)
		if err != nil {
			if json.Valid(b) {
				t.Fatalf("fast accepted what DecodeMetadata refuses: %v", err)
			}
			return // invalid JSON in a part the scanner does not read (user)
		}
		if fast.CommandID != slow.CommandID || fast.Fingerprint != slow.Fingerprint || fast.Index != slow.Index || fast.Count != slow.Count {
			t.Fatalf("fast %+v != slow %+v", fast, slow)
		}
	})
}

func TestScanMetadataAcceptsEncoded(t *testing.T) {
	m := Metadata{CommandID: "cmd-1", Fingerprint: "ff", CommandType: "x.Y", CorrelationID: "a\\b", CausationID: "c", Index: 2, Count: 3,
		Attempt: "abc123", User: map[string]string{"k": "v"}}
	b := m.Encode()
	got, ok := scanMetadata(b)
	if !ok || got.CommandID != m.CommandID || got.Fingerprint != m.Fingerprint || got.Index != 2 || got.Count != 3 {
		t.Fatalf("scan %s: %+v %v", b, got, ok)
	}
}
