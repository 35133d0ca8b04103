package command

import (
	"maps"
	"slices"
	"time"
)

// processedSet is an aggregate's processed command set (G3): command id -> what it
// wrote, in the order the commands were recorded so that the dedupe window (G7) can
// drop the oldest first.
//
// The entries live in a slice in recorded order and the map holds only their
// sequence numbers: loading an aggregate adds one entry per command, and a map of
// small values grows (rehashes) far more cheaply than one holding the entries.
type processedSet struct {
	// entries are in recorded order. An entry whose command id was recorded again
	// later is superseded: index points to the later one.
	entries []ProcessedCommand
	// index maps a command id to the sequence number of its live entry, which is at
	// entries[seq-base].
	index map[string]int
	// base is the sequence number of entries[0]: how many entries were pruned.
	base int
}

func newProcessedSet(capacity int) *processedSet {
	return &processedSet{index: make(map[string]int, capacity)}
}

// clone returns a copy of s that shares nothing mutable with it.
func (s *processedSet) clone() *processedSet {
	return &processedSet{entries: slices.Clone(s.entries), index: maps.Clone(s.index), base: s.base}
}

func (s *processedSet) get(id string) (ProcessedCommand, bool) {
	seq, ok := s.index[id]
	if !ok {
		return ProcessedCommand{}, false
	}
	return s.entries[seq-s.base], true
}

// live reports whether the entry at i (an index into entries) is the live entry of
// its command id.
func (s *processedSet) live(i int) bool {
	seq, ok := s.index[s.entries[i].ID]
	return ok && seq == s.base+i
}

// observe folds one event's command metadata into the set: a new command id starts an
// entry, the following events of the same command extend it.
func (s *processedSet) observe(m Metadata, revision uint64, at time.Time, rejection string, noop bool) {
	if seq, ok := s.index[m.CommandID]; ok && m.Index > 0 {
		if p := &s.entries[seq-s.base]; p.LastRevision+1 == revision && p.Fingerprint == m.Fingerprint {
			p.LastRevision = revision
			return
		}
	}
	s.add(ProcessedCommand{ID: m.CommandID, Fingerprint: m.Fingerprint, FirstRevision: revision,
		LastRevision: revision, RecordedAt: at, Rejection: rejection, NoOp: noop})
}

// add records p as the live entry of its command id, superseding an earlier one.
func (s *processedSet) add(p ProcessedCommand) {
	s.index[p.ID] = s.base + len(s.entries)
	s.entries = append(s.entries, p)
}

// prune applies the dedupe window: keep at most count commands (0: no bound) and
// none recorded before cutoff (zero: no bound). It returns how many live entries
// it dropped.
func (s *processedSet) prune(count int, cutoff time.Time) int {
	drop := 0
	before := len(s.index)
	live := before
	for drop < len(s.entries) {
		if !s.live(drop) { // superseded entry
			drop++
			continue
		}
		p := &s.entries[drop]
		tooMany := count > 0 && live > count
		tooOld := !cutoff.IsZero() && p.RecordedAt.Before(cutoff)
		if !tooMany && !tooOld {
			break
		}
		delete(s.index, p.ID)
		live--
		drop++
	}
	if drop > 0 {
		// Reslicing keeps pruning O(dropped); the dropped entries are cleared so that
		// they hold no strings, and their memory goes at the next growth.
		clear(s.entries[:drop])
		s.entries = s.entries[drop:]
		s.base += drop
	}
	return before - live
}

// list returns the live entries in recorded order (for snapshots).
func (s *processedSet) list() []ProcessedCommand {
	out := make([]ProcessedCommand, 0, len(s.index))
	for i := range s.entries {
		if s.live(i) {
			out = append(out, s.entries[i])
		}
	}
	return out
}
