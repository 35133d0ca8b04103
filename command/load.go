package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
)

// recentMax is how many of an aggregate's latest events a loaded aggregate keeps, so
// that a duplicate of a recent command returns its original events without a read.
const recentMax = 32

// loaded is an aggregate as the handler holds it. When cached it is shared between
// goroutines and mu guards every field.
type loaded[S any] struct {
	mu       sync.Mutex
	stream   string
	state    S
	revision uint64
	exists   bool
	set      *processedSet
	recent   []eventstore.RecordedEvent
	// pending are events read whose data is not yet folded into state (see load);
	// set, revision and recent include them. Only an aggregate not yet shared has
	// pending events: it is folded before it is cached.
	pending []eventstore.RecordedEvent
	// snapRevision is the revision of the latest snapshot known (hasSnap).
	snapRevision uint64
	hasSnap      bool
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

// pendingMax is how many read events a loaded aggregate holds undecoded (see
// load).
const pendingMax = 64

// load reads the aggregate in stream: the latest usable snapshot, then the events
// after it (O(events since the snapshot)), folding state and processed set.
//
// The processed set, revision and recent events are built as the events are read;
// the events' data is decoded and folded into the state by fold, up to pendingMax
// events at a time. A load that ends with events pending leaves them for fold,
// which runs before anything reads the state: a duplicate found on a short stream
// is answered (G3: from the metadata and the original events) without decoding
// any event.
func (h *Handler[S]) load(ctx context.Context, stream string) (*loaded[S], error) {
	h.stats.loads.Add(1)
	initial, err := h.initial()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	a := &loaded[S]{stream: stream, state: initial, set: newProcessedSet(8)}
	from := uint64(0)
	if h.cfg.snapshots != nil {
		if ok, err := h.restore(ctx, a); err != nil {
			return nil, err
		} else if ok {
			from = a.revision + 1
		}
	}
	if _, err := h.readInto(ctx, a, from); err != nil {
		return nil, err
	}
	return a, nil
}

// readInto reads stream events from revision from on into a (not shared): the
// processed set, revision and recent events at once, the state through pending
// (see load). It returns how many events it read.
func (h *Handler[S]) readInto(ctx context.Context, a *loaded[S], from uint64) (int, error) {
	n := 0
	for ev, err := range h.store.ReadStream(ctx, a.stream, from) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) && !a.exists {
				break
			}
			return n, fmt.Errorf("load %s from revision %d: %w", a.stream, from, err)
		}
		if err := h.take(a, ev); err != nil {
			return n, err
		}
		n++
	}
	h.pruneWindow(a.set)
	return n, nil
}

// take adds one read event to a (not shared): its metadata to the processed set
// and revision now, its data to pending, folded pendingMax at a time.
func (h *Handler[S]) take(a *loaded[S], ev eventstore.RecordedEvent) error {
	if len(a.pending) >= pendingMax {
		if err := h.fold(a); err != nil {
			return err
		}
	}
	if err := h.observe(a, ev); err != nil {
		return err
	}
	a.pending = append(a.pending, ev)
	a.remember(ev)
	return nil
}

// catchUp brings a up to the stream's head by reading only the events after its
// revision (O(new events)), instead of loading the stream again. The new events
// are folded into a copy of a: a itself, which the cache or the next command may
// hold, is never changed, so a catch-up that fails leaves it as it was. It
// returns a when no event is new. The result has no pending events unless a had.
func (h *Handler[S]) catchUp(ctx context.Context, a *loaded[S]) (*loaded[S], error) {
	h.stats.catchUps.Add(1)
	from := uint64(0)
	if a.exists {
		from = a.revision + 1
	}
	var b *loaded[S]
	n := 0
	for ev, err := range h.store.ReadStream(ctx, a.stream, from) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) && !a.exists {
				break
			}
			return nil, fmt.Errorf("catch up %s from revision %d: %w", a.stream, from, err)
		}
		if b == nil {
			b = a.clone()
		}
		if err := h.take(b, ev); err != nil {
			return nil, err
		}
		n++
	}
	h.stats.caughtUp.Add(uint64(n))
	if b == nil {
		return a, nil
	}
	if err := h.fold(b); err != nil {
		return nil, err
	}
	h.pruneWindow(b.set)
	return b, nil
}

// clone returns a copy of a (locked, or held by one goroutine) that shares nothing
// mutable with it: the state is copied by value (Evolve must not modify its input
// in place), the processed set, recent and pending events are copied.
func (a *loaded[S]) clone() *loaded[S] {
	return &loaded[S]{stream: a.stream, state: a.state, revision: a.revision, exists: a.exists,
		set: a.set.clone(), recent: slices.Clone(a.recent), pending: slices.Clone(a.pending),
		snapRevision: a.snapRevision, hasSnap: a.hasSnap}
}

// restore loads a's snapshot. A missing snapshot, one of another schema version, or
// one that does not decode is ignored: the state is rebuilt from events (G7).
func (h *Handler[S]) restore(ctx context.Context, a *loaded[S]) (bool, error) {
	snap, err := h.cfg.snapshots.LoadSnapshot(ctx, a.stream)
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("load %s: %w", a.stream, ctx.Err())
		}
		if !errors.Is(err, aggregate.ErrNoSnapshot) {
			h.log.Warn("idem: snapshot unreadable, rebuilding from events", "stream", a.stream, "err", err)
		}
		return false, nil
	}
	if snap.SchemaVersion != h.cfg.schemaVersion || snap.Stream != a.stream {
		return false, nil
	}
	state, err := h.initial()
	if err != nil {
		return false, fmt.Errorf("load %s: %w", a.stream, err)
	}
	if err := h.codec.Serializer().Unmarshal(snap.State, &state); err != nil {
		h.log.Warn("idem: snapshot state does not decode, rebuilding from events", "stream", a.stream, "err", err)
		return false, nil
	}
	a.state, a.revision, a.exists = state, snap.Revision, true
	a.snapRevision, a.hasSnap = snap.Revision, true
	a.set = newProcessedSet(len(snap.Processed) + 8)
	for _, p := range snap.Processed {
		a.set.add(p)
	}
	return true, nil
}

// fold decodes a's pending events (a locked, or not shared yet) and evolves the
// state with them, in order. An event that does not decode fails the fold, and
// the load, as it would have failed reading it.
func (h *Handler[S]) fold(a *loaded[S]) error {
	for i, ev := range a.pending {
		if ev.Type == RejectedEventType || ev.Type == NoOpEventType {
			continue // markers are never passed to Evolve
		}
		e, err := h.codec.Decode(ev.Type, ev.Data)
		if err == nil {
			err = h.evolve(a, e)
		}
		if err != nil {
			a.pending = a.pending[i:]
			return fmt.Errorf("load %s at revision %d: %w", ev.Stream, ev.Revision, err)
		}
	}
	clear(a.pending)
	a.pending = a.pending[:0]
	return nil
}

// observe folds one recorded event's idem metadata into a's processed set (G3)
// and moves a's revision to it. Metadata that claims to be idem's but cannot be
// read fails with ErrCorrupt: the processed set would be incomplete, and a
// redelivery of that command would be decided again (G11).
func (h *Handler[S]) observe(a *loaded[S], ev eventstore.RecordedEvent) error {
	rejection, noop := "", false
	switch ev.Type {
	case RejectedEventType:
		var body struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(ev.Data, &body); err != nil || body.Error == "" {
			body.Error = "rejected"
		}
		rejection = body.Error
	case NoOpEventType:
		noop = true
	}
	m, isCommand, err := readMetadata(ev.Metadata)
	if err != nil {
		return fmt.Errorf("load %s: event %s at revision %d (position %s): %w: %w",
			ev.Stream, ev.ID, ev.Revision, ev.Position, eventstore.ErrCorrupt, err)
	}
	if isCommand {
		a.set.observe(m, ev.Revision, ev.RecordedAt, rejection, noop)
	}
	a.revision, a.exists = ev.Revision, true
	return nil
}

// evolve calls the decider's Evolve, turning a panic into an *idem.PanicError.
func (h *Handler[S]) evolve(a *loaded[S], e any) (err error) {
	defer callback.Recover("Evolve", &err)
	a.state = h.decider.Evolve(a.state, e)
	return nil
}

// initial calls the decider's Initial, turning a panic into an *idem.PanicError.
func (h *Handler[S]) initial() (s S, err error) {
	defer callback.Recover("Initial", &err)
	return h.decider.Initial(), nil
}

func (h *Handler[S]) pruneWindow(s *processedSet) {
	if h.cfg.windowCount == 0 && h.cfg.windowAge == 0 {
		return
	}
	var cutoff time.Time
	if h.cfg.windowAge > 0 {
		cutoff = h.cfg.now().Add(-h.cfg.windowAge)
	}
	s.prune(h.cfg.windowCount, cutoff)
}

// snapshotDue reports whether a (locked) has gained enough events since its last
// snapshot.
func (h *Handler[S]) snapshotDue(a *loaded[S]) bool {
	if h.cfg.snapshots == nil || !a.exists {
		return false
	}
	if !a.hasSnap {
		return a.revision+1 >= uint64(h.cfg.snapshotEvery)
	}
	return a.revision-a.snapRevision >= uint64(h.cfg.snapshotEvery)
}

// takeSnapshot builds a snapshot of a (locked) and marks it taken.
func (h *Handler[S]) takeSnapshot(a *loaded[S]) (aggregate.Snapshot, error) {
	state, err := h.codec.Serializer().Marshal(a.state)
	if err != nil {
		return aggregate.Snapshot{}, fmt.Errorf("snapshot %s at revision %d: encode state: %w", a.stream, a.revision, err)
	}
	a.snapRevision, a.hasSnap = a.revision, true
	return aggregate.Snapshot{Stream: a.stream, Revision: a.revision, SchemaVersion: h.cfg.schemaVersion,
		State: state, Processed: a.set.list(), TakenAt: h.cfg.now()}, nil
}

func (h *Handler[S]) saveSnapshot(ctx context.Context, snap aggregate.Snapshot) {
	if err := h.cfg.snapshots.SaveSnapshot(ctx, snap); err != nil {
		h.log.Warn("idem: snapshot not saved", "stream", snap.Stream, "revision", snap.Revision, "err", err)
		return
	}
	h.stats.snapshots.Add(1)
}
