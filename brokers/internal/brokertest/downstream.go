package brokertest

import (
	"sync"
	"testing"
)

// Downstream is a consumer of relayed events that dedupes on the message id, as
// the relay asks of every consumer: it counts each id's copies.
type Downstream struct {
	mu     sync.Mutex
	copies map[string]int
}

// NewDownstream returns an empty downstream consumer.
func NewDownstream() *Downstream { return &Downstream{copies: map[string]int{}} }

// Receive records one copy of the message with id, and reports whether it was
// the first (the effect runs) or a duplicate absorbed.
func (d *Downstream) Receive(id string) (first bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.copies[id]++
	return d.copies[id] == 1
}

// Distinct and Absorbed return the ids received and the extra copies absorbed.
func (d *Downstream) Distinct() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.copies)
}

// Absorbed returns the copies beyond the first of each id.
func (d *Downstream) Absorbed() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.copies {
		n += c - 1
	}
	return n
}

// CheckReceived fails t unless every id in ids was received at least once and
// nothing else was.
func (d *Downstream) CheckReceived(t testing.TB, ids []string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if d.copies[id] == 0 {
			t.Errorf("event %s never reached the downstream consumer", id)
		}
	}
	if len(d.copies) != len(ids) {
		t.Errorf("downstream received %d distinct ids, want %d", len(d.copies), len(ids))
	}
}
