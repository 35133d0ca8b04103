package command

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
)

// The canonical encoding of a payload, without decoding it into maps: every
// command is fingerprinted, and the general path (canonicalJSON) builds a tree
// of maps and interfaces and encodes it again. flatCanonical writes the same
// bytes in one pass over json.Marshal's output; anything it does not handle
// itself (escapes and non-ASCII in strings, duplicate keys, unexpected input)
// sends the payload to the general path, so the two never differ.

// canon is the state of one flat encoding, pooled.
type canon struct {
	out     []byte
	scratch []byte
	members []member // the members of the objects being encoded, innermost last
}

// member is an object member: its key (the raw bytes between the quotes) and
// its canonical value at out[start:end]; zero members are left out.
type member struct {
	key        []byte
	start, end int
	zero       bool
}

var canonPool = sync.Pool{New: func() any { return &canon{} }}

// flatCanonical returns the canonical encoding of data (json.Marshal's output),
// appended to dst; ok is false when the general path must encode it.
func flatCanonical(dst, data []byte) (out []byte, ok bool) {
	c := canonPool.Get().(*canon)
	defer canonPool.Put(c)
	c.out, c.members = c.out[:0], c.members[:0]
	rest, _, ok := c.value(data)
	if !ok || len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return dst, false
	}
	return append(dst, c.out...), true
}

// value encodes the value at the start of data and reports whether it is zero
// (null, false, 0, "", [] or {} after zero members are left out).
func (c *canon) value(data []byte) (rest []byte, zero, ok bool) {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return nil, false, false
	}
	switch b := data[0]; {
	case b == '{':
		return c.object(data[1:])
	case b == '[':
		return c.array(data[1:])
	case b == '"':
		s, rest, ok := verbatimString(data)
		if !ok {
			return nil, false, false
		}
		c.out = append(c.out, data[:len(s)+2]...)
		return rest, len(s) == 0, true
	case b == 't' || b == 'f' || b == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(data) >= len(lit) && string(data[:len(lit)]) == lit {
				c.out = append(c.out, lit...)
				return data[len(lit):], lit != "true", true
			}
		}
		return nil, false, false
	default:
		return c.number(data)
	}
}

// verbatimString returns the contents of the string at the start of data when it
// is encoded as itself: printable ASCII with no escape.
func verbatimString(data []byte) (s, rest []byte, ok bool) {
	for i := 1; i < len(data); i++ {
		switch b := data[i]; {
		case b == '"':
			return data[1:i], data[i+1:], true
		case b == '\\' || b < 0x20 || b >= 0x7f:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// number copies the number at the start of data as written; it is zero when
// strconv.ParseFloat reads it as 0, as json.Number.Float64 would.
func (c *canon) number(data []byte) (rest []byte, zero, ok bool) {
	n, mantissaZero, exp := 0, true, false
	for ; n < len(data); n++ {
		b := data[n]
		switch {
		case b >= '1' && b <= '9' && !exp:
			mantissaZero = false
		case b == 'e' || b == 'E':
			exp = true
		case (b >= '0' && b <= '9') || b == '-' || b == '+' || b == '.':
		default:
			goto done
		}
	}
done:
	if n == 0 {
		return nil, false, false
	}
	num := data[:n]
	zero = mantissaZero
	if exp && !mantissaZero {
		f, err := strconv.ParseFloat(string(num), 64)
		zero = err == nil && f == 0
	}
	c.out = append(c.out, num...)
	return data[n:], zero, true
}

// array encodes the elements of an array (data starts after '['), each kept.
func (c *canon) array(data []byte) (rest []byte, zero, ok bool) {
	c.out = append(c.out, '[')
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) > 0 && data[0] == ']' {
		c.out = append(c.out, ']')
		return data[1:], true, true
	}
	for {
		if data, _, ok = c.value(data); !ok {
			return nil, false, false
		}
		data = bytes.TrimLeft(data, " \t\r\n")
		if len(data) == 0 {
			return nil, false, false
		}
		c.out = append(c.out, data[0])
		switch data[0] {
		case ',':
			data = data[1:]
		case ']':
			return data[1:], false, true
		default:
			return nil, false, false
		}
	}
}

// object encodes an object (data starts after '{'): its members with a zero
// value left out, the others sorted by key.
func (c *canon) object(data []byte) (rest []byte, zero, ok bool) {
	base, start := len(c.members), len(c.out)
	defer func() { c.members = c.members[:base] }()
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) > 0 && data[0] == '}' {
		c.out = append(c.out, '{', '}')
		return data[1:], true, true
	}
	for {
		if data, ok = c.member(data); !ok {
			return nil, false, false
		}
		data = bytes.TrimLeft(data, " \t\r\n")
		if len(data) == 0 || (data[0] != ',' && data[0] != '}') {
			return nil, false, false
		}
		if data[0] == '}' {
			break
		}
		data = data[1:]
	}
	kept, ok := c.writeObject(base, start)
	return data[1:], kept == 0, ok
}

// member encodes one member of an object into out and records it.
func (c *canon) member(data []byte) (rest []byte, ok bool) {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 || data[0] != '"' {
		return nil, false
	}
	key, data, ok := verbatimString(data)
	if !ok {
		return nil, false
	}
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 || data[0] != ':' {
		return nil, false
	}
	m := member{key: key, start: len(c.out)}
	data, m.zero, ok = c.value(data[1:])
	m.end = len(c.out)
	c.members = append(c.members, m)
	return data, ok
}

// writeObject rewrites out[start:], which holds the values of the members from
// base on, as the object: sorted by key, zero members left out. It fails on a
// duplicate key (decoding keeps the last one; the general path handles that).
func (c *canon) writeObject(base, start int) (kept int, ok bool) {
	ms := c.members[base:]
	slices.SortStableFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(ms[i-1].key, ms[i].key) {
			return 0, false
		}
	}
	c.scratch = append(c.scratch[:0], c.out[start:]...)
	c.out = append(c.out[:start], '{')
	for _, m := range ms {
		if m.zero {
			continue
		}
		if kept > 0 {
			c.out = append(c.out, ',')
		}
		kept++
		c.out = append(c.out, '"')
		c.out = append(c.out, m.key...)
		c.out = append(c.out, '"', ':')
		c.out = append(c.out, c.scratch[m.start-start:m.end-start]...)
	}
	c.out = append(c.out, '}')
	return kept, true
}
