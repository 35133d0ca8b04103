package command

import (
	"strconv"
	"unicode/utf8"
)

// scanMetadata reads the fields a load needs (command id, fingerprint, index,
// count) from metadata in exactly the form Metadata.Encode writes, without
// encoding/json: loading an aggregate reads one metadata object per event, and this
// halves its cost. Anything else (another field order, escapes in the id or the
// fingerprint, foreign metadata) returns ok false and the caller uses
// DecodeMetadata.
func scanMetadata(b []byte) (m Metadata, ok bool) {
	rest, ok := cut(b, `{"command_id":"`)
	if !ok {
		return m, false
	}
	if m.CommandID, rest, ok = plainString(rest); !ok || m.CommandID == "" || len(m.CommandID) > MaxIDLength {
		return m, false
	}
	if rest, ok = cut(rest, `,"fingerprint":"`); !ok {
		return m, false
	}
	if m.Fingerprint, rest, ok = plainString(rest); !ok {
		return m, false
	}
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
	return m, true
}

func cut(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

// plainString reads a string body up to its closing quote; escapes and control
// characters make it give up.
func plainString(b []byte) (string, []byte, bool) {
	for i, c := range b {
		switch {
		case c == '"':
			if !utf8.Valid(b[:i]) {
				return "", b, false
			}
			return string(b[:i]), b[i+1:], true
		case c == '\\' || c < 0x20:
			return "", b, false
		}
	}
	return "", b, false
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

func number(b []byte) (int, []byte, bool) {
	i := 0
	for i < len(b) && i < 10 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 || (i > 1 && b[0] == '0') {
		return 0, b, false
	}
	n, err := strconv.Atoi(string(b[:i]))
	if err != nil {
		return 0, b, false
	}
	return n, b[i:], true
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
