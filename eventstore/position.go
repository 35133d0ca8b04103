package eventstore

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Position is a place in the global log. It holds EventStoreDB's (commit, prepare)
// pair; backends with a single sequence (SQLite, memory) set both to it. Positions are
// totally ordered by (Commit, Prepare), comparable with ==, and not contiguous: never
// compute with them beyond comparing.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// Start returns the position before the first event, the zero Position: reading or
// subscribing after Start delivers the whole log.
func Start() Position { return Position{} }

// Compare returns -1, 0 or +1 as p is before, equal to or after q.
func (p Position) Compare(q Position) int {
	if c := cmp.Compare(p.Commit, q.Commit); c != 0 {
		return c
	}
	return cmp.Compare(p.Prepare, q.Prepare)
}

// Less reports whether p is before q.
func (p Position) Less(q Position) bool { return p.Compare(q) < 0 }

// String is the stable text form of p, "commit/prepare", used for checkpoints.
func (p Position) String() string {
	return strconv.FormatUint(p.Commit, 10) + "/" + strconv.FormatUint(p.Prepare, 10)
}

// MarshalText encodes p as String does.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes the form written by MarshalText.
func (p *Position) UnmarshalText(b []byte) error {
	q, err := ParsePosition(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// ParsePosition parses the text form of a Position ("commit/prepare").
func ParsePosition(s string) (Position, error) {
	c, pr, ok := strings.Cut(s, "/")
	if ok {
		commit, err1 := strconv.ParseUint(c, 10, 64)
		prepare, err2 := strconv.ParseUint(pr, 10, 64)
		if err1 == nil && err2 == nil {
			return Position{Commit: commit, Prepare: prepare}, nil
		}
	}
	return Position{}, fmt.Errorf("parse position %q: %w", s, ErrInvalidPosition)
}
