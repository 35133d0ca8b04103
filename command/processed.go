package command

import (
	"time"

	"github.com/idemkit/idem/aggregate"
)

// processedSet is an aggregate's processed command set (G3): command id -> what it
// wrote, in the order the commands were recorded so that the dedupe window (G7) can
// drop the oldest first.
type processedSet struct {
	byID  map[string]aggregate.ProcessedCommand
	order []orderEntry
}

type orderEntry struct {
	id    string
	first uint64
}

func newProcessedSet(capacity int) *processedSet {
	return &processedSet{byID: make(map[string]aggregate.ProcessedCommand, capacity)}
}

func (s *processedSet) get(id string) (aggregate.ProcessedCommand, bool) {
	p, ok := s.byID[id]
	return p, ok
}

// observe folds one event's command metadata into the set: a new command id starts an
// entry, the following events of the same command extend it.
func (s *processedSet) observe(m Metadata, revision uint64, at time.Time, rejection string, noop bool) {
	if p, ok := s.byID[m.CommandID]; ok && m.Index > 0 && p.LastRevision+1 == revision && p.Fingerprint == m.Fingerprint {
		p.LastRevision = revision
		s.byID[m.CommandID] = p
		return
	}
	s.add(aggregate.ProcessedCommand{ID: m.CommandID, Fingerprint: m.Fingerprint, FirstRevision: revision,
		LastRevision: revision, RecordedAt: at, Rejection: rejection, NoOp: noop})
}

func (s *processedSet) add(p aggregate.ProcessedCommand) {
	s.byID[p.ID] = p
	s.order = append(s.order, orderEntry{id: p.ID, first: p.FirstRevision})
}

// prune applies the dedupe window: keep at most count commands (0: no bound) and
// none recorded before cutoff (zero: no bound).
func (s *processedSet) prune(count int, cutoff time.Time) {
	drop := 0
	live := len(s.byID)
	for drop < len(s.order) {
		e := s.order[drop]
		p, ok := s.byID[e.id]
		if !ok || p.FirstRevision != e.first { // superseded entry
			drop++
			continue
		}
		tooMany := count > 0 && live > count
		tooOld := !cutoff.IsZero() && p.RecordedAt.Before(cutoff)
		if !tooMany && !tooOld {
			break
		}
		delete(s.byID, e.id)
		live--
		drop++
	}
	if drop > 0 {
		s.order = append(s.order[:0:0], s.order[drop:]...)
	}
}

// list returns the live entries in recorded order (for snapshots).
func (s *processedSet) list() []aggregate.ProcessedCommand {
	out := make([]aggregate.ProcessedCommand, 0, len(s.byID))
	for _, e := range s.order {
		if p, ok := s.byID[e.id]; ok && p.FirstRevision == e.first {
			out = append(out, p)
		}
	}
	return out
}

func (s *processedSet) clone() *processedSet {
	c := &processedSet{byID: make(map[string]aggregate.ProcessedCommand, len(s.byID)), order: append([]orderEntry(nil), s.order...)}
	for k, v := range s.byID {
		c.byID[k] = v
	}
	return c
}
