package command

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/eventstore"
)

// Fingerprint returns the fingerprint of a command payload: the hex SHA-256 of its
// registered type name, a zero byte, and its canonical encoding. With the default
// JSON serializer the encoding is canonical JSON (object keys sorted, numbers as
// written, no insignificant space), so reordering struct fields or decoding and
// re-encoding a payload does not change it; with another serializer its bytes are
// used as they are, and that serializer must be deterministic. Payload types are
// named by registering them in the codec, like events; an unregistered type fails
// with aggregate.ErrUnregisteredType.
func Fingerprint(codec *aggregate.Codec, payload any) (string, error) {
	return fingerprint(codec, payload, eventstore.DefaultMaxAppendSize)
}

// fingerprint is Fingerprint for payloads whose encoding is at most limit bytes;
// a larger one fails with *eventstore.AppendTooLargeError, before it is encoded
// when its size floor already says so (jsonSizeFloor).
func fingerprint(codec *aggregate.Codec, payload any, limit int) (string, error) {
	if isNil(payload) {
		return "", ErrNilPayload
	}
	_, isJSON := codec.Serializer().(aggregate.JSON)
	if isJSON {
		if floor := jsonSizeFloor(payload, limit); floor > limit {
			return "", &eventstore.AppendTooLargeError{Size: floor, Limit: limit}
		}
	}
	name, data, err := codec.Encode(payload)
	if err != nil {
		return "", err
	}
	if len(data) > limit {
		return "", &eventstore.AppendTooLargeError{Size: len(data), Limit: limit}
	}
	if isJSON {
		data, err = canonicalJSON(data)
		if err != nil {
			return "", fmt.Errorf("fingerprint %q: %w", name, err)
		}
	}
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// canonicalJSON re-encodes a JSON document with sorted object keys and numbers kept
// as written.
func canonicalJSON(data []byte) ([]byte, error) {
	// A flat struct's JSON is already canonical when its keys are sorted; checking is
	// cheaper than re-encoding, but not much, so re-encode always: it is one small
	// document per command.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}
