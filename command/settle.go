package command

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/idemkit/idem/eventstore"
)

// settle answers a successful append. Written: this call applied the command.
// Replayed, or OutcomeUnknown: the events were found stored, by this call's
// earlier attempt or by another handler, and the answer says which (G4).
func (h *Handler[S, C, E]) settle(ctx context.Context, a *loaded[S], cl *call[C], d decision[S, E],
	data []eventstore.EventData, res eventstore.AppendResult) (Result, error) {
	if res.Outcome == eventstore.Written {
		return h.applied(ctx, a, cl, d, data, res)
	}
	// The events were there already, or the store cannot say (EventStoreDB, one read
	// per append): what is stored tells who wrote it (its attempt id) and for which
	// payload (its fingerprint: the same command id with another payload has the
	// same event ids).
	first := res.Revision + 1 - uint64(len(data))
	stored, err := h.readRange(ctx, cl.stream, first, res.Revision)
	if err != nil {
		return Result{}, cl.errorf("read the append back: %w", err)
	}
	if res.Outcome == eventstore.OutcomeUnknown && attemptOf(stored[0]) == cl.meta.Attempt {
		return h.applied(ctx, a, cl, d, data, res)
	}
	p, err := recordOf(stored)
	if err != nil {
		return Result{}, cl.errorf("read the append back: %w", err)
	}
	// Stored by another handler, or by an earlier attempt of this call: a was not
	// moved forward, the next command catches it up.
	h.cache.evict(cl.stream, a)
	return h.duplicate(ctx, cl, p, stored)
}

// recordOf builds the processed-set entry of a command from its stored events.
func recordOf(events []eventstore.RecordedEvent) (ProcessedCommand, error) {
	first, last := events[0], events[len(events)-1]
	m, err := DecodeMetadata(first.Metadata)
	if err != nil {
		return ProcessedCommand{}, fmt.Errorf("event at revision %d: %w: %w", first.Revision, eventstore.ErrCorrupt, err)
	}
	p := ProcessedCommand{ID: m.CommandID, Fingerprint: m.Fingerprint, FirstRevision: first.Revision,
		LastRevision: last.Revision, RecordedAt: first.RecordedAt}
	switch first.Type {
	case RejectedEventType:
		p.Rejection = rejectionOf(first.Data)
	case NoOpEventType:
		p.NoOp = true
	}
	return p, nil
}

// applied finishes an append this call wrote: move the aggregate forward, snapshot
// if due, count, and answer.
func (h *Handler[S, C, E]) applied(ctx context.Context, a *loaded[S], cl *call[C], d decision[S, E],
	data []eventstore.EventData, res eventstore.AppendResult) (Result, error) {
	recs := recorded(cl.stream, data, res)
	w := write[S, C, E]{cl: cl, d: d, recs: recs}
	state, err := h.evolveWritten(d.state, w)
	if err == nil {
		h.advance(ctx, a, base[S]{revision: d.revision, exists: d.exists}, state, []write[S, C, E]{w})
	} else {
		h.log.Warn("idem: written events do not fold; the aggregate is read again next time", "stream", a.stream, "err", err)
		h.cache.evict(a.stream, a)
	}
	return h.answerWritten(w)
}

// write is one command's part of an append: its decision and its events as
// recorded.
type write[S, C, E any] struct {
	cl   *call[C]
	d    decision[S, E]
	recs []eventstore.RecordedEvent
}

// answerWritten is Handle's answer for a command whose append this handler wrote.
func (h *Handler[S, C, E]) answerWritten(w write[S, C, E]) (Result, error) {
	cl := w.cl
	switch w.d.kind {
	case decidedRejection:
		return Result{}, &RejectedError{CommandID: cl.cmd.ID, Stream: cl.stream, Err: w.d.err, Recorded: true}
	case decidedNoOp:
		return Result{Stream: cl.stream, Revision: w.recs[0].Revision, NoOp: true, Fingerprint: cl.meta.Fingerprint}, nil
	}
	return Result{Stream: cl.stream, Revision: w.recs[len(w.recs)-1].Revision, Events: w.recs, Fingerprint: cl.meta.Fingerprint}, nil
}

// evolveWritten evolves state with w's events as the codec decodes them (the form a
// reload gives, so a cached state equals a reloaded one); markers leave it as it
// is.
func (h *Handler[S, C, E]) evolveWritten(state S, w write[S, C, E]) (S, error) {
	if w.d.kind != decidedEvents {
		return state, nil
	}
	for _, r := range w.recs {
		e, err := h.codec.DecodeEvent(r.Type, r.Data)
		if err == nil {
			state, err = h.evolve(state, e)
		}
		if err != nil {
			return state, err
		}
	}
	return state, nil
}

// advance moves a past the writes of one append, to state, if a is still the
// aggregate they were decided on (at b): all writes or none, so a stays whole
// (stale at worst) for the next command. A snapshot due is saved. It reports
// whether a moved.
func (h *Handler[S, C, E]) advance(ctx context.Context, a *loaded[S], b base[S], state S, writes []write[S, C, E]) bool {
	a.mu.Lock()
	if a.revision != b.revision || a.exists != b.exists || len(a.pending) > 0 || writes[0].recs[0].Revision != b.next() {
		a.mu.Unlock()
		h.cache.evict(a.stream, a)
		return false
	}
	now := h.cfg.now()
	for _, w := range writes {
		a.set.add(ProcessedCommand{ID: w.cl.cmd.ID, Fingerprint: w.cl.meta.Fingerprint, FirstRevision: w.recs[0].Revision,
			LastRevision: w.recs[len(w.recs)-1].Revision, RecordedAt: now, NoOp: w.d.kind == decidedNoOp,
			Rejection: w.d.rejectionText()})
		a.remember(cloneEvents(w.recs)...) // the results' events are the callers' own
	}
	h.pruneWindow(a)
	last := writes[len(writes)-1].recs
	a.state, a.revision, a.exists = state, last[len(last)-1].Revision, true
	var snap eventstore.Snapshot
	due := h.snapshotDue(a)
	if due {
		var err error
		if snap, err = h.takeSnapshot(a); err != nil {
			h.log.Warn("idem: snapshot not taken", "stream", a.stream, "err", err)
			due = false
		}
	}
	a.mu.Unlock()
	if due {
		h.saveSnapshot(ctx, snap)
	}
	return true
}

// next is the revision after b's.
func (b base[S]) next() uint64 {
	if !b.exists {
		return 0
	}
	return b.revision + 1
}

// duplicate answers a command whose events are stored (G3): the original result,
// or ErrIdempotencyKeyReused when the payload differs. recent holds the command's
// events when the aggregate had them at hand. When this call made appends whose
// outcome was unknown, the stored events may be its own: their attempt id tells,
// and then the answer is "applied", not "duplicate" (G4).
func (h *Handler[S, C, E]) duplicate(ctx context.Context, cl *call[C], p ProcessedCommand, recent []eventstore.RecordedEvent) (Result, error) {
	fp := cl.meta.Fingerprint
	if p.Fingerprint != fp {
		return Result{}, &IdempotencyKeyReusedError{CommandID: cl.cmd.ID, Stream: cl.stream, Recorded: p.Fingerprint, Received: fp}
	}
	events := recent
	marker := p.Rejection != "" || p.NoOp
	if events == nil && (len(cl.unsettled) > 0 || !marker) {
		var err error
		if events, err = h.readRange(ctx, cl.stream, p.FirstRevision, p.LastRevision); err != nil {
			return Result{}, fmt.Errorf("handle duplicate command %q: %w", cl.cmd.ID, err)
		}
	}
	own := len(cl.unsettled) > 0 && len(events) > 0 && slices.Contains(cl.unsettled, attemptOf(events[0]))
	switch {
	case p.Rejection != "":
		return Result{}, &RejectedError{CommandID: cl.cmd.ID, Stream: cl.stream, Err: errors.New(p.Rejection), Recorded: true, Duplicate: !own}
	case p.NoOp:
		r := Result{Stream: cl.stream, Revision: p.LastRevision, NoOp: true, Fingerprint: fp}
		if !own {
			r.Duplicate, r.DuplicateBy = true, ByCommandID
		}
		return r, nil
	case own:
		return Result{Stream: cl.stream, Revision: p.LastRevision, Events: events, Fingerprint: fp}, nil
	}
	return Result{Stream: cl.stream, Revision: p.LastRevision, Events: events, Duplicate: true, DuplicateBy: ByCommandID, Fingerprint: fp}, nil
}

// attemptOf returns the attempt id recorded in the metadata of a command's first
// event, or "" when it has none.
func attemptOf(ev eventstore.RecordedEvent) string {
	m, err := DecodeMetadata(ev.Metadata)
	if err != nil {
		return ""
	}
	return m.Attempt
}

// readRange reads the events first..last of stream.
func (h *Handler[S, C, E]) readRange(ctx context.Context, stream string, first, last uint64) ([]eventstore.RecordedEvent, error) {
	n := int(last-first) + 1
	out := make([]eventstore.RecordedEvent, 0, n)
	for ev, err := range h.store.ReadStream(ctx, stream, first, eventstore.Limit(n)) {
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	if len(out) != n {
		return nil, fmt.Errorf("read %s revisions %d..%d: got %d events: %w", stream, first, last, len(out), eventstore.ErrCorrupt)
	}
	return out, nil
}
