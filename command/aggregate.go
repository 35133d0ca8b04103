package command

import (
	"slices"
	"sync"

	"github.com/idemkit/idem/eventstore"
)

// recentMax is how many of an aggregate's latest events a loaded aggregate keeps, so
// that a duplicate of a recent command returns its original events without a read.
const recentMax = 32

// pendingMax is how many read events a loaded aggregate holds undecoded (see load).
const pendingMax = 64

// loaded is an aggregate as the handler holds it. When cached it is shared between
// goroutines and mu guards every field.
type loaded[S any] struct {
	mu       sync.Mutex
	stream   string
	state    S
	revision uint64
	exists   bool
	set      *processedSet
	// complete is true when set holds every command recorded in the stream up to
	// revision; otherwise (restored from a snapshot without the set, or pruned) a
	// command not in it may still be recorded: the handler looks it up (G3).
	complete bool
	recent   []eventstore.RecordedEvent
	// pending are events read whose data is not yet folded into state (see load);
	// set, revision and recent include them. Only an aggregate not yet shared has
	// pending events: it is folded before it is cached.
	pending []eventstore.RecordedEvent
	// snapRevision is the revision of the latest snapshot known (hasSnap).
	snapRevision uint64
	hasSnap      bool
}

// processed reports whether command id is in a's processed set, with copies of its
// events when a still has them, and whether the set is complete. prune, when not
// nil, applies the dedupe window first: a cached set ages too.
func (a *loaded[S]) processed(id string, prune func(*loaded[S])) (p ProcessedCommand, events []eventstore.RecordedEvent, seen, complete bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prune != nil {
		prune(a)
	}
	p, seen = a.set.get(id)
	if seen {
		events, _ = a.recentRange(p.FirstRevision, p.LastRevision)
	}
	return p, events, seen, a.complete
}

// recentRange returns copies of the events first..last if all of them are in
// recent: the caller may change them without changing what the next duplicate gets.
func (a *loaded[S]) recentRange(first, last uint64) ([]eventstore.RecordedEvent, bool) {
	if len(a.recent) == 0 || first < a.recent[0].Revision || last > a.recent[len(a.recent)-1].Revision {
		return nil, false
	}
	i := int(first - a.recent[0].Revision)
	n := int(last-first) + 1
	return cloneEvents(a.recent[i : i+n]), true
}

// remember adds events to recent, keeping at least the last recentMax; it lets
// recent grow to twice that before trimming, so that a load stays O(events). The
// trim moves the last recentMax to the front of the same array: recentRange hands
// out copies, so no one else holds it.
func (a *loaded[S]) remember(evs ...eventstore.RecordedEvent) {
	a.recent = append(a.recent, evs...)
	if n := len(a.recent); n >= 2*recentMax {
		copy(a.recent, a.recent[n-recentMax:])
		clear(a.recent[recentMax:n]) // no stale references to events' data
		a.recent = a.recent[:recentMax]
	}
}

// clone returns a copy of a (locked, or held by one goroutine) that shares nothing
// mutable with it: the state is copied by value (Evolve must not modify its input
// in place), the processed set, recent and pending events are copied.
func (a *loaded[S]) clone() *loaded[S] {
	return &loaded[S]{stream: a.stream, state: a.state, revision: a.revision, exists: a.exists,
		set: a.set.clone(), complete: a.complete, recent: slices.Clone(a.recent), pending: slices.Clone(a.pending),
		snapRevision: a.snapRevision, hasSnap: a.hasSnap}
}

// cloneEvents returns a deep copy of events: data and metadata in one allocation.
func cloneEvents(events []eventstore.RecordedEvent) []eventstore.RecordedEvent {
	size := 0
	for i := range events {
		size += len(events[i].Data) + len(events[i].Metadata)
	}
	buf := make([]byte, 0, size)
	out := slices.Clone(events)
	for i := range out {
		out[i].Data, buf = carve(buf, out[i].Data)
		out[i].Metadata, buf = carve(buf, out[i].Metadata)
	}
	return out
}

// carve copies b to the end of buf and returns the copy, capped so that appending
// to it never writes into the next one, and the grown buf.
func carve(buf, b []byte) ([]byte, []byte) {
	if b == nil {
		return nil, buf
	}
	n := len(buf)
	buf = append(buf, b...)
	return buf[n:len(buf):len(buf)], buf
}
