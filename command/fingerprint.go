package command

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/jsonsize"
)

// Fingerprint returns the fingerprint of a command payload: the hex SHA-256 of its
// registered type name, a zero byte, and its canonical encoding.
//
// With the default JSON serializer the encoding is canonical JSON: object keys
// sorted, numbers as written, no insignificant space, and members whose value is
// zero (null, false, 0, "", [] or {}, after the same rule inside) left out. So
// reordering struct fields, decoding and re-encoding a payload, or deploying a
// version of the command type with a new field leaves the fingerprint of a payload
// that does not use the field unchanged: a redelivery of a message sent before the
// deploy is still a duplicate, not a reused key. A payload whose new field is set,
// or whose fields changed value, has another fingerprint (see
// docs/dedupe-policy.md). With another serializer its bytes are used as they are,
// and that serializer must be deterministic.
func Fingerprint[C, E any](codec *aggregate.Codec[C, E], payload C) (string, error) {
	return fingerprint(codec, payload, eventstore.DefaultMaxAppendSize)
}

// fingerprint is Fingerprint for payloads whose encoding is at most limit bytes;
// a larger one fails with *eventstore.AppendTooLargeError, before it is encoded
// when its size floor already says so (G11).
func fingerprint[C, E any](codec *aggregate.Codec[C, E], payload C, limit int) (string, error) {
	if isNil(payload) {
		return "", ErrNilPayload
	}
	_, isJSON := codec.Serializer().(aggregate.JSON)
	if isJSON {
		if floor := jsonsize.Floor(payload, limit); floor > limit {
			return "", &eventstore.AppendTooLargeError{Size: floor, Limit: limit}
		}
	}
	name, data, err := codec.EncodeCommand(payload)
	if err != nil {
		return "", err
	}
	if len(data) > limit {
		return "", &eventstore.AppendTooLargeError{Size: len(data), Limit: limit}
	}
	buf := fingerprintBufs.Get().(*[]byte)
	defer fingerprintBufs.Put(buf)
	in := append(append((*buf)[:0], name...), 0)
	if isJSON {
		var ok bool
		if in, ok = flatCanonical(in, data); !ok {
			if data, err = canonicalJSON(data); err != nil {
				return "", fmt.Errorf("fingerprint %q: %w", name, err)
			}
			in = append(in, data...)
		}
	} else {
		in = append(in, data...)
	}
	*buf = in
	sum := sha256.Sum256(in)
	return hex.EncodeToString(sum[:]), nil
}

// fingerprintBufs hold the bytes a fingerprint hashes: name, NUL, encoding.
var fingerprintBufs = sync.Pool{New: func() any { return new([]byte) }}

// canonicalJSON re-encodes a JSON document with sorted object keys, numbers kept
// as written, and zero-valued object members left out.
func canonicalJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(dropZero(v)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// dropZero removes, in every object of v, the members whose value is zero after
// the same removal inside them. Array elements stay: their positions mean
// something.
func dropZero(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, m := range v {
			m = dropZero(m)
			if isZeroJSON(m) {
				delete(v, k)
				continue
			}
			v[k] = m
		}
		return v
	case []any:
		for i := range v {
			v[i] = dropZero(v[i])
		}
		return v
	}
	return v
}

// isZeroJSON reports whether a decoded JSON value is the zero value of a Go field
// that encoding/json wrote: null, false, 0, "", [] or {}.
func isZeroJSON(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case json.Number:
		f, err := v.Float64()
		return err == nil && f == 0
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
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
