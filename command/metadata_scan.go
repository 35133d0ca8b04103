package command

import (
	"math"
	"unicode/utf8"
)

// scanMetadata reads the fields a load needs (command id, fingerprint, index,
// count) from metadata in exactly the form Metadata.Encode writes, without
// encoding/json: loading an aggregate reads one metadata object per event, and this
// halves its cost. Anything else (another field order, escapes in the id or the
// fingerprint, foreign metadata) returns ok false and the caller uses
// DecodeMetadata.
func scanMetadata(b []byte) (m Metadata, ok bool) {
	const idKey = `{"command_id":"`
	rest, ok := cut(b, idKey)
	if !ok {
		return m, false
	}
	id, rest, ok := plainString(rest)
	if !ok || len(id) == 0 || len(id) > MaxCommandIDLength {
		return m, false
	}
	if rest, ok = cut(rest, `,"fingerprint":"`); !ok {
		return m, false
	}
	fp, rest, ok := plainString(rest)
	if !ok {
		return m, false
	}
	span := b[len(idKey) : len(b)-len(rest)-1] // from the id to the end of the fingerprint
	for _, key := range []string{`,"command_type":"`, `,"correlation_id":"`, `,"causation_id":"`} {
		if r, found := cut(rest, key); found {
			if rest, ok = skipString(r); !ok {
				return m, false
			}
		}
	}
	if rest, ok = cut(rest, `,"index":`); !ok {
		return m, false
	}
	if m.Index, rest, ok = number(rest); !ok {
		return m, false
	}
	if rest, ok = cut(rest, `,"count":`); !ok {
		return m, false
	}
	if m.Count, rest, ok = number(rest); !ok {
		return m, false
	}
	if r, found := cut(rest, `,"attempt":"`); found {
		if rest, ok = skipString(r); !ok {
			return m, false
		}
	}
	if r, found := cut(rest, `,"trace":{`); found {
		if rest, ok = stringMap(r); !ok {
			return m, false
		}
	}
	if r, found := cut(rest, `,"user":{`); found {
		if rest, ok = stringMap(r); !ok {
			return m, false
		}
	}
	if len(rest) != 1 || rest[0] != '}' {
		return m, false
	}
	if m.Count < 1 || m.Index < 0 || m.Index >= m.Count {
		return m, false
	}
	// One string holds both the id and the fingerprint: one allocation per event
	// instead of two.
	both := string(span)
	m.CommandID, m.Fingerprint = both[:len(id)], both[len(both)-len(fp):]
	return m, true
}

func cut(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

// plainString reads a string body up to its closing quote, returning the body and
// what follows the quote; escapes, control characters and invalid UTF-8 (which
// encoding/json would replace) make it give up.
func plainString(b []byte) ([]byte, []byte, bool) {
	for i, c := range b {
		switch {
		case c == '"':
			if !utf8.Valid(b[:i]) {
				return nil, b, false
			}
			return b[:i], b[i+1:], true
		case c == '\\' || c < 0x20:
			return nil, b, false
		}
	}
	return nil, b, false
}

// skipString skips a string body with escapes up to its closing quote.
func skipString(b []byte) ([]byte, bool) {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\\':
			i++
		case c == '"':
			return b[i+1:], true
		case c < 0x20:
			return b, false
		}
	}
	return b, false
}

// number reads a JSON integer of at most 10 digits, without sign or leading zero.
func number(b []byte) (int, []byte, bool) {
	i, n := 0, uint64(0)
	for i < len(b) && i < 10 && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + uint64(b[i]-'0')
		i++
	}
	if i == 0 || (i > 1 && b[0] == '0') || n > math.MaxInt {
		return 0, b, false
	}
	return int(n), b[i:], true
}

// stringMap skips the body of a JSON object whose values are all strings, up to and
// including its closing brace.
func stringMap(b []byte) ([]byte, bool) {
	if r, ok := cut(b, "}"); ok {
		return r, true
	}
	for {
		var ok bool
		if b, ok = cut(b, `"`); !ok {
			return b, false
		}
		if b, ok = skipString(b); !ok {
			return b, false
		}
		if b, ok = cut(b, `:"`); !ok {
			return b, false
		}
		if b, ok = skipString(b); !ok {
			return b, false
		}
		if r, ok := cut(b, "}"); ok {
			return r, true
		}
		if b, ok = cut(b, ","); !ok {
			return b, false
		}
	}
}
