package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
)

// acquire returns the aggregate a command decides on, the freshest one the handler
// knows: the cached one (fresh false: another process may have written since), or
// the one the stream's previous command left, caught up, or else one loaded from
// the store. Loaded or caught-up aggregates are cached and handed to the next
// command of the stream.
func (h *Handler[S, C, E]) acquire(ctx context.Context, turn *streamTurn[S, C], stream string) (a *loaded[S], fresh bool, err error) {
	a = h.cache.get(stream)
	if h.cache != nil {
		h.cacheResult(ctx, a != nil)
	}
	if a != nil {
		h.stats.cacheHits.Add(1)
		return a, false, nil
	}
	if turn.last != nil {
		a, err := h.refresh(ctx, turn, turn.last)
		return a, true, err
	}
	if a, err = h.load(ctx, stream); err != nil {
		return nil, false, err
	}
	turn.last = a
	if h.cache == nil && h.cfg.snapshots == nil {
		// Neither cached nor snapshotted: the state is folded when a command turns
		// out not to be a duplicate. Only the stream's turn holders see a.
		return a, true, nil
	}
	if err := h.fold(a); err != nil {
		return nil, false, err
	}
	if h.snapshotDue(a) {
		if snap, err := h.takeSnapshot(a); err == nil {
			h.saveSnapshot(ctx, snap)
		} else {
			h.log.Warn("idem: snapshot not taken", "stream", stream, "err", err)
		}
	}
	h.cache.put(a)
	return a, true, nil
}

// refresh catches a up (see catchUp) and makes the result the stream's cached and
// handed-on aggregate. On failure both keep a, which catchUp left untouched.
func (h *Handler[S, C, E]) refresh(ctx context.Context, turn *streamTurn[S, C], a *loaded[S]) (*loaded[S], error) {
	b, err := h.catchUp(ctx, a)
	if err != nil {
		return nil, err
	}
	if b != a {
		h.cache.put(b)
	}
	turn.last = b
	return b, nil
}

// load reads the aggregate in stream: the latest usable snapshot, then the events
// after it (O(events since the snapshot)).
//
// The processed set, revision and recent events are built as the events are read;
// the events' data is decoded and folded into the state by fold, up to pendingMax
// events at a time. A load that ends with events pending leaves them for fold,
// which runs before anything reads the state: a duplicate found on a short stream
// is answered (G3: from the metadata and the original events) without decoding
// any event.
func (h *Handler[S, C, E]) load(ctx context.Context, stream string) (a *loaded[S], err error) {
	h.stats.loads.Add(1)
	ctx, span := h.loadSpan(ctx, "idem.aggregate.load", stream)
	start, read := time.Now(), 0
	defer func() {
		processed := 0
		if a != nil {
			processed = len(a.set.index)
		}
		h.endLoad(ctx, span, start, read, processed, err)
	}()
	initial, err := h.initial()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	a = &loaded[S]{stream: stream, state: initial, set: newProcessedSet(8), complete: true}
	if h.cfg.snapshots != nil {
		if err := h.restore(ctx, a); err != nil {
			return nil, err
		}
	}
	for ev, err := range h.store.ReadStream(ctx, stream, a.next()) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) && !a.exists {
				break
			}
			return nil, fmt.Errorf("load %s from revision %d: %w", stream, a.next(), err)
		}
		if err := h.take(a, ev); err != nil {
			return nil, err
		}
		read++
	}
	h.pruneWindow(a)
	return a, nil
}

// next is the revision after a's last event.
func (a *loaded[S]) next() uint64 {
	if !a.exists {
		return 0
	}
	return a.revision + 1
}

// catchUp brings a up to the stream's head by reading only the events after its
// revision (O(new events)), instead of loading the stream again. The new events
// are folded into a copy of a: a itself, which the cache or the next command may
// hold, is never changed, so a catch-up that fails leaves it as it was. It
// returns a when no event is new.
func (h *Handler[S, C, E]) catchUp(ctx context.Context, a *loaded[S]) (*loaded[S], error) {
	h.stats.catchUps.Add(1)
	ctx, span := h.loadSpan(ctx, "idem.aggregate.catch_up", a.stream)
	defer span.End()
	from := a.next()
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
			a.mu.Lock()
			b = a.clone()
			a.mu.Unlock()
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
	h.pruneWindow(b)
	return b, nil
}

// take adds one read event to a (not shared): its metadata to the processed set
// and revision now, its data to pending, folded pendingMax at a time.
func (h *Handler[S, C, E]) take(a *loaded[S], ev eventstore.RecordedEvent) error {
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

// observe folds one recorded event's idem metadata into a's processed set (G3)
// and moves a's revision to it. Metadata that claims to be idem's but cannot be
// read fails with ErrCorrupt: the processed set would be incomplete, and a
// redelivery of that command would be decided again (G11).
func (h *Handler[S, C, E]) observe(a *loaded[S], ev eventstore.RecordedEvent) error {
	if ev.Revision != a.next() {
		return fmt.Errorf("load %s: event %s at revision %d after revision %d: %w",
			ev.Stream, ev.ID, ev.Revision, a.revision, eventstore.ErrCorrupt)
	}
	m, isCommand, err := readMetadata(ev.Metadata)
	if err != nil {
		return fmt.Errorf("load %s: event %s at revision %d (position %s): %w: %w",
			ev.Stream, ev.ID, ev.Revision, ev.Position, eventstore.ErrCorrupt, err)
	}
	if isCommand {
		rejection, noop := "", false
		switch ev.Type {
		case RejectedEventType:
			rejection = rejectionOf(ev.Data)
		case NoOpEventType:
			noop = true
		}
		a.set.observe(m, ev.Revision, ev.RecordedAt, rejection, noop)
	}
	a.revision, a.exists = ev.Revision, true
	return nil
}

// rejectionOf reads the text of a rejection marker.
func rejectionOf(data []byte) string {
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.Error == "" {
		return "rejected"
	}
	return body.Error
}

// fold decodes a's pending events (a locked, or not shared yet) and evolves the
// state with them, in order. An event that does not decode fails the fold, and
// the load, as it would have failed reading it.
func (h *Handler[S, C, E]) fold(a *loaded[S]) error {
	for i, ev := range a.pending {
		if ev.Type == RejectedEventType || ev.Type == NoOpEventType {
			continue // markers are never passed to Evolve
		}
		e, err := h.codec.DecodeEvent(ev.Type, ev.Data)
		if err == nil {
			a.state, err = h.evolve(a.state, e)
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

// evolve calls the decider's Evolve, turning a panic into an *idem.PanicError.
func (h *Handler[S, C, E]) evolve(state S, e E) (next S, err error) {
	defer callback.Recover("Evolve", &err)
	return h.decider.Evolve(state, e), nil
}

// initial calls the decider's Initial, turning a panic into an *idem.PanicError.
func (h *Handler[S, C, E]) initial() (s S, err error) {
	defer callback.Recover("Initial", &err)
	return h.decider.Initial(), nil
}
