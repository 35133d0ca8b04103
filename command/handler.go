package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/idemkit/idem"
	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/aggregate/reservation"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
)

// Handler handles commands for one kind of aggregate. It is safe for concurrent use:
// it runs the commands of one aggregate one at a time and those of different
// aggregates in parallel; several handlers (in one process or many) may handle
// commands for the same aggregates at once (G4).
type Handler[S any] struct {
	store   eventstore.Store
	decider aggregate.Decider[S]
	codec   *aggregate.Codec
	cfg     config
	log     *slog.Logger
	cache   *aggregateCache[S]
	turns   streamLocks[S]
	stats   counters
	err     error
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidHandler}, args...)...)
}

// NewHandler returns a Handler that appends to store, decides with d and encodes with
// codec. A bad argument or option does not panic: the handler's Err reports it and
// every Handle call fails with it (ErrInvalidHandler).
func NewHandler[S any](store eventstore.Store, d aggregate.Decider[S], codec *aggregate.Codec, opts ...Option) *Handler[S] {
	h := &Handler[S]{store: store, decider: d, codec: codec, cfg: config{
		retries: DefaultRetries, minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff, now: time.Now,
		maxAppendSize: eventstore.DefaultMaxAppendSize,
	}}
	for _, o := range opts {
		if o != nil {
			o(&h.cfg)
		}
	}
	switch {
	case h.cfg.err != nil:
		h.err = h.cfg.err
	case store == nil:
		h.err = errorf("nil event store")
	case codec == nil:
		h.err = errorf("nil codec")
	default:
		if err := d.Validate(); err != nil {
			h.err = fmt.Errorf("%w: %w", ErrInvalidHandler, err)
		}
	}
	h.log = h.cfg.logger
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.cfg.reservations == nil && store != nil {
		h.cfg.reservations = reservation.New(store, reservation.WithClock(h.cfg.now))
	}
	h.cache = newAggregateCache[S](h.cfg.cacheSize)
	return h
}

// Err reports a bad argument or option given to NewHandler, or nil.
func (h *Handler[S]) Err() error { return h.err }

// Stats returns a snapshot of the handler's counters (G12).
func (h *Handler[S]) Stats() Stats { return h.stats.snapshot() }

// Stream returns the stream of the aggregate with the given id.
func (h *Handler[S]) Stream(aggregateID string) (string, error) {
	return aggregate.StreamName(h.decider.Category, aggregateID)
}

// Reservations returns where the handler claims Decider.Keys, for releasing keys
// that changed.
func (h *Handler[S]) Reservations() *reservation.Reservations { return h.cfg.reservations }

// Load returns the state of the aggregate and its revision (0 also when the stream
// does not exist yet), read from the store (and snapshot), bypassing the cache.
func (h *Handler[S]) Load(ctx context.Context, aggregateID string) (S, uint64, error) {
	var zero S
	if h.err != nil {
		return zero, 0, h.err
	}
	stream, err := h.Stream(aggregateID)
	if err != nil {
		return zero, 0, err
	}
	if err := ctx.Err(); err != nil {
		return zero, 0, fmt.Errorf("load %s: %w", stream, err)
	}
	a, err := h.load(ctx, stream)
	if err != nil {
		return zero, 0, err
	}
	if err := h.fold(a); err != nil {
		return zero, 0, err
	}
	return a.state, a.revision, nil
}

// Processed returns the aggregate's processed command set within the dedupe window,
// in recorded order, read from the store (and snapshot).
func (h *Handler[S]) Processed(ctx context.Context, aggregateID string) ([]aggregate.ProcessedCommand, error) {
	if h.err != nil {
		return nil, h.err
	}
	stream, err := h.Stream(aggregateID)
	if err != nil {
		return nil, err
	}
	a, err := h.load(ctx, stream)
	if err != nil {
		return nil, err
	}
	return a.set.list(), nil
}

// Handle handles one command: validate, load, dedupe, decide, claim keys, append,
// retry on conflict. See the package doc for the guarantee each step keeps.
//
// It returns a Result on success and for duplicates (Duplicate true); a
// *RejectedError for a domain rejection; *IdempotencyKeyReusedError for a reused id;
// *RetriesExhaustedError when conflicts outlast the budget; *InvalidCommandError for
// bad input; a *reservation.ClaimedError when a key belongs to another aggregate.
// Only a successful append writes; every other outcome writes nothing (except the
// markers of RecordRejections and RecordNoOps, and reservation claims).
func (h *Handler[S]) Handle(ctx context.Context, c Command) (Result, error) {
	if h.err != nil {
		return Result{}, h.err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("handle command %q: %w", trunc(c.ID), err)
	}
	if err := c.Validate(); err != nil {
		h.stats.invalid.Add(1)
		return Result{}, err
	}
	stream, err := h.Stream(c.AggregateID)
	if err != nil {
		h.stats.invalid.Add(1)
		return Result{}, &InvalidCommandError{CommandID: trunc(c.ID), Field: "AggregateID", Err: err}
	}
	ctype, err := h.codec.Name(c.Payload)
	if err != nil {
		h.stats.invalid.Add(1)
		return Result{}, &InvalidCommandError{CommandID: trunc(c.ID), Field: "Payload", Err: err}
	}
	fp, err := fingerprint(h.codec, c.Payload, h.cfg.maxAppendSize)
	if err != nil {
		h.stats.invalid.Add(1)
		return Result{}, &InvalidCommandError{CommandID: trunc(c.ID), Field: "Payload", Err: err}
	}
	h.stats.handled.Add(1)
	meta := Metadata{CommandID: c.ID, Fingerprint: fp, CommandType: ctype,
		CorrelationID: c.CorrelationID, CausationID: c.CausationID, User: c.Metadata}

	// G4 within one handler: the commands of one stream take turns (streamlock.go),
	// so they never conflict with each other, and a second delivery of a command
	// finds it in the processed set the first one left. Other streams run in
	// parallel.
	turn, err := h.turns.lock(ctx, stream)
	if err != nil {
		return Result{}, fmt.Errorf("handle command %q: wait for the turn of %s: %w", trunc(c.ID), stream, err)
	}
	defer h.turns.unlock(stream, turn)
	return h.handle(ctx, turn, stream, c, meta)
}

// handle runs c on stream; the caller holds the stream's turn.
func (h *Handler[S]) handle(ctx context.Context, turn *streamLock[S], stream string, c Command, meta Metadata) (Result, error) {
	var claimed []string // keys this call took from free, withdrawn if the command writes nothing
	release := func() {
		// G5: Withdraw frees a key only if no other command of this aggregate has
		// joined the claim: a joiner may be writing the key right now.
		claimant := reservation.Claimant{Owner: stream, CommandID: c.ID, OwnerStream: stream}
		// The withdrawal runs even if the caller gave up (a claim left behind waits
		// for ReconcileReservations), but not for ever: it holds the aggregate's turn.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), withdrawTimeout)
		defer cancel()
		for _, k := range claimed {
			if _, err := h.cfg.reservations.Withdraw(wctx, h.decider.Category, k, claimant); err != nil {
				h.log.Warn("idem: reservation not withdrawn", "stream", stream, "key", k, "err", err)
			}
		}
		claimed = nil
	}
	var lastErr error
	// unsettled are the attempt ids of this call's appends whose outcome was unknown
	// (they may have been written): a command found recorded with one of them was
	// applied by this call, not by another handler (G4).
	var unsettled []string
	// a is the aggregate the command is decided on. read reports whether it was
	// brought up to the stream's head during this call; a cached aggregate may be
	// stale (another process may have written since).
	var a *loaded[S]
	read := false
	for attempt := 0; ; attempt++ {
		var err error
		if a == nil {
			a, read, err = h.acquire(ctx, turn, stream)
		} else {
			// After a conflict, an unknown outcome, or to confirm an outcome that
			// writes nothing: read only the events after a's revision.
			a, err = h.refresh(ctx, turn, a)
			read = true
		}
		if err != nil {
			release()
			return Result{}, fmt.Errorf("handle command %q: %w", trunc(c.ID), err)
		}

		a.mu.Lock()
		if p, seen := a.set.get(c.ID); seen {
			events, inRecent := a.recentRange(p.FirstRevision, p.LastRevision)
			a.mu.Unlock()
			return h.duplicate(ctx, stream, c, meta.Fingerprint, p, events, inRecent, unsettled)
		}
		if err := h.fold(a); err != nil { // a new command: the state is needed now
			a.mu.Unlock()
			release()
			return Result{}, fmt.Errorf("handle command %q: %w", trunc(c.ID), err)
		}
		state, rev, exists := a.state, a.revision, a.exists
		a.mu.Unlock()

		events, derr := h.decide(state, c.Payload)
		if !read && (derr != nil || len(events) == 0) {
			// A stale cached state is caught by the Exact append, but an outcome
			// that appends nothing (rejection, no-op, business-key duplicate) would
			// escape that check: confirm it on the stored state, caught up.
			attempt--
			continue
		}
		var data []eventstore.EventData
		rejection := ""
		meta.Attempt = newAttemptID()
		switch {
		case derr != nil && errors.Is(derr, aggregate.ErrAlreadyDone):
			// G5: the business fact is already there; a duplicate by business key.
			release()
			h.stats.dupByKey.Add(1)
			key := ""
			var dk *aggregate.DuplicateKeyError
			if errors.As(derr, &dk) {
				key = dk.Key
			}
			return Result{Stream: stream, Revision: rev, Duplicate: true, DuplicateBy: ByBusinessKey, Key: key, Fingerprint: meta.Fingerprint}, nil
		case derr != nil && errors.Is(derr, idem.ErrPanicked):
			release()
			return Result{}, fmt.Errorf("handle command %q on %s: %w", trunc(c.ID), stream, derr)
		case derr != nil:
			release()
			h.stats.rejected.Add(1)
			if !h.cfg.recordRejections { // G6: nothing written, retry decided afresh
				return Result{}, &RejectedError{CommandID: c.ID, Stream: stream, Err: derr}
			}
			rejection = derr.Error()
			m, err := markerEvent(stream, c, meta, RejectedEventType, rejection)
			if err != nil {
				return Result{}, err
			}
			data = []eventstore.EventData{m}
		case len(events) == 0:
			release()
			h.stats.noops.Add(1)
			if !h.cfg.recordNoOps { // G6: a no-op writes nothing
				return Result{Stream: stream, Revision: rev, NoOp: true, Fingerprint: meta.Fingerprint}, nil
			}
			m, err := markerEvent(stream, c, meta, NoOpEventType, "")
			if err != nil {
				return Result{}, err
			}
			data = []eventstore.EventData{m}
		default:
			data, err = h.encodeEvents(stream, c, meta, events)
			if err != nil {
				release()
				return Result{}, err
			}
			if h.decider.Keys != nil {
				fresh, err := h.claim(ctx, stream, c)
				claimed = append(claimed, fresh...)
				if err != nil {
					release()
					return Result{}, fmt.Errorf("handle command %q on %s: %w", trunc(c.ID), stream, err)
				}
			}
		}

		// G3: Exact(n) or NoStream, never Any.
		expected := eventstore.NoStream()
		if exists {
			expected = eventstore.Exact(rev)
		}
		res, aerr := h.store.Append(ctx, stream, expected, data...)
		if aerr == nil {
			if res.Outcome == eventstore.Written {
				return h.applied(ctx, a, c, meta, rev, exists, events, data, res, derr, rejection)
			}
			// G4: the events were already stored (Replayed) or the store cannot say
			// (OutcomeUnknown): by this call's earlier attempt, or by another handler.
			// a was not moved forward: let the next command catch up.
			h.cache.evict(stream, a)
			if res.Outcome == eventstore.OutcomeUnknown {
				unsettled = append(unsettled, meta.Attempt)
			}
			first := res.Revision + 1 - uint64(len(data))
			p := aggregate.ProcessedCommand{ID: c.ID, Fingerprint: meta.Fingerprint, FirstRevision: first, LastRevision: res.Revision,
				Rejection: rejection, NoOp: derr == nil && len(events) == 0}
			if derr != nil && rejection == "" {
				p.Rejection = derr.Error()
			}
			return h.duplicate(ctx, stream, c, meta.Fingerprint, p, nil, false, unsettled)
		}
		if !notWritten(aerr) {
			unsettled = append(unsettled, meta.Attempt)
		}
		if !retryable(ctx, aerr) {
			h.cache.evict(stream, a)
			if notWritten(aerr) {
				release()
			}
			return Result{}, fmt.Errorf("handle command %q: %w", trunc(c.ID), aerr)
		}
		// G4: a conflict (this command or another, from another process), or an
		// unknown outcome (the append may have been written: its derived ids make the
		// retry harmless, G2). Catch a up and look again: a stays as it was, stale
		// but whole, until the catch-up succeeds.
		lastErr = aerr
		if attempt >= h.cfg.retries {
			if notWritten(aerr) {
				release()
			}
			h.stats.exhausted.Add(1)
			h.log.Warn("idem: command retries exhausted", "stream", stream, "command_id", c.ID, "attempts", attempt+1, "err", aerr)
			return Result{}, &RetriesExhaustedError{CommandID: c.ID, Stream: stream, Attempts: attempt + 1, Last: lastErr}
		}
		h.stats.conflicts.Add(1)
		h.log.Debug("idem: command append retried", "stream", stream, "command_id", c.ID, "attempt", attempt+1, "err", aerr)
		if err := h.sleep(ctx, attempt); err != nil {
			if notWritten(aerr) {
				release()
			}
			return Result{}, fmt.Errorf("handle command %q: %w (after %w)", trunc(c.ID), err, lastErr)
		}
	}
}

// acquire returns the aggregate to decide on: from the cache (read false: it may
// be stale), else the one the previous command of the stream left, caught up, else
// loaded (and cached, and snapshotted if due).
func (h *Handler[S]) acquire(ctx context.Context, turn *streamLock[S], stream string) (a *loaded[S], read bool, err error) {
	if a := h.cache.get(stream); a != nil {
		h.stats.cacheHits.Add(1)
		return a, false, nil
	}
	if a := turn.last; a != nil {
		a, err := h.refresh(ctx, turn, a)
		return a, true, err
	}
	a, err = h.load(ctx, stream)
	if err != nil {
		return nil, false, err
	}
	if h.cache == nil && h.cfg.snapshots == nil {
		// Not cached and not snapshotted: the state is folded by handle once the
		// command is known not to be a duplicate. Only the holders of the stream's
		// turn see a, one at a time.
		turn.last = a
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
	turn.last = a
	return a, true, nil
}

// refresh catches a up (see catchUp) and makes the result the stream's cached and
// handed-off aggregate. On failure both keep a, which catchUp left untouched.
func (h *Handler[S]) refresh(ctx context.Context, turn *streamLock[S], a *loaded[S]) (*loaded[S], error) {
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

// applied finishes a successful append: update the loaded aggregate, snapshot if
// due, count, and build the result.
func (h *Handler[S]) applied(ctx context.Context, a *loaded[S], c Command, meta Metadata, rev uint64, exists bool,
	events []any, data []eventstore.EventData, res eventstore.AppendResult, derr error, rejection string) (Result, error) {
	recs := recorded(a.stream, data, res)
	var snap *aggregate.Snapshot
	a.mu.Lock()
	if a.revision == rev && a.exists == exists && res.Revision+1 == rev+uint64(len(data))+boolToUint(exists) {
		// a is still the state the command was decided on: move it forward, all
		// events or none (a stays whole, stale at worst, for the next command).
		ok, prev := true, a.state
		if derr == nil && len(events) > 0 {
			for _, e := range events {
				if err := h.evolve(a, e); err != nil {
					a.state, ok = prev, false
					break
				}
			}
		}
		if ok {
			now := h.cfg.now()
			a.set.add(aggregate.ProcessedCommand{ID: c.ID, Fingerprint: meta.Fingerprint, FirstRevision: recs[0].Revision,
				LastRevision: res.Revision, RecordedAt: now, Rejection: rejection, NoOp: derr == nil && len(events) == 0})
			h.pruneWindow(a.set)
			a.revision, a.exists = res.Revision, true
			a.remember(cloneEvents(recs)...) // the result's events are the caller's own
			if h.snapshotDue(a) {
				if s, err := h.takeSnapshot(a); err == nil {
					snap = &s
				}
			}
		} else {
			h.cache.evict(a.stream, a)
		}
	} else {
		h.cache.evict(a.stream, a)
	}
	a.mu.Unlock()
	if snap != nil {
		h.saveSnapshot(ctx, *snap)
	}
	switch {
	case derr != nil:
		return Result{}, &RejectedError{CommandID: c.ID, Stream: a.stream, Err: derr, Recorded: true}
	case len(events) == 0:
		return Result{Stream: a.stream, Revision: res.Revision, NoOp: true, Fingerprint: meta.Fingerprint}, nil
	}
	h.stats.applied.Add(1)
	return Result{Stream: a.stream, Revision: res.Revision, Events: recs, Fingerprint: meta.Fingerprint}, nil
}

func boolToUint(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// duplicate answers a command whose events are stored (G3): the original result,
// or ErrIdempotencyKeyReused when the payload differs. When this call made appends
// whose outcome was unknown (unsettled), the stored events may be its own: their
// attempt id tells, and then the answer is "applied", not "duplicate" (G4).
func (h *Handler[S]) duplicate(ctx context.Context, stream string, c Command, fp string, p aggregate.ProcessedCommand,
	events []eventstore.RecordedEvent, haveEvents bool, unsettled []string) (Result, error) {
	if p.Fingerprint != fp {
		h.stats.keyReused.Add(1)
		return Result{}, &IdempotencyKeyReusedError{CommandID: c.ID, Stream: stream, Recorded: p.Fingerprint, Received: fp}
	}
	marker := p.Rejection != "" || p.NoOp
	if !haveEvents && (len(unsettled) > 0 || !marker) {
		var err error
		events, err = h.readRange(ctx, stream, p.FirstRevision, p.LastRevision)
		if err != nil {
			return Result{}, fmt.Errorf("handle duplicate command %q: %w", trunc(c.ID), err)
		}
	}
	own := len(unsettled) > 0 && len(events) > 0 && slices.Contains(unsettled, attemptOf(events[0]))
	if !own {
		h.stats.dupByID.Add(1)
	}
	switch {
	case p.Rejection != "":
		h.stats.rejected.Add(1)
		return Result{}, &RejectedError{CommandID: c.ID, Stream: stream, Err: errors.New(p.Rejection), Recorded: true, Duplicate: !own}
	case p.NoOp:
		r := Result{Stream: stream, Revision: p.LastRevision, NoOp: true, Fingerprint: fp}
		if !own {
			r.Duplicate, r.DuplicateBy = true, ByCommandID
		}
		return r, nil
	case own:
		h.stats.applied.Add(1)
		return Result{Stream: stream, Revision: p.LastRevision, Events: events, Fingerprint: fp}, nil
	}
	return Result{Stream: stream, Revision: p.LastRevision, Events: events, Duplicate: true, DuplicateBy: ByCommandID, Fingerprint: fp}, nil
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

func (h *Handler[S]) readRange(ctx context.Context, stream string, first, last uint64) ([]eventstore.RecordedEvent, error) {
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

// decide calls the decider's Decide, turning a panic into an *idem.PanicError.
func (h *Handler[S]) decide(state S, cmd any) (events []any, err error) {
	defer callback.Recover("Decide", &err)
	return h.decider.Decide(state, cmd)
}

// keys calls the decider's Keys, turning a panic into an *idem.PanicError.
func (h *Handler[S]) keys(cmd any) (keys []string, err error) {
	defer callback.Recover("Keys", &err)
	return h.decider.Keys(cmd), nil
}

// claim claims the command's keys (G5) for this aggregate; it returns the keys it
// took from free, so they can be released if the command ends up writing nothing.
func (h *Handler[S]) claim(ctx context.Context, stream string, c Command) ([]string, error) {
	keys, err := h.keys(c.Payload)
	if err != nil {
		return nil, err
	}
	var fresh []string
	for _, k := range keys {
		cl, err := h.cfg.reservations.Claim(ctx, h.decider.Category, k,
			reservation.Claimant{Owner: stream, CommandID: c.ID, OwnerStream: stream})
		if err != nil {
			return fresh, err
		}
		if cl.CommandID == c.ID {
			fresh = append(fresh, k)
		}
	}
	return fresh, nil
}

// withdrawTimeout bounds the withdrawal of a command's claims (see handle).
const withdrawTimeout = 5 * time.Second

// retryable reports whether an append error may be followed by a catch-up and a new
// attempt: conflicts, and failures whose outcome is unknown. Bad input, a closed
// store and a done context are final.
func retryable(ctx context.Context, err error) bool {
	switch {
	case ctx.Err() != nil,
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, eventstore.ErrInvalidEvent), errors.Is(err, eventstore.ErrInvalidStreamName),
		errors.Is(err, eventstore.ErrInvalidExpectedRevision), errors.Is(err, eventstore.ErrClosed),
		errors.Is(err, eventstore.ErrStreamDeleted):
		return false
	}
	return true
}

// notWritten reports whether an append error proves that nothing was written, so
// that keys claimed for the command may be released. After an unknown outcome the
// claims stay: the events may be stored (Reconcile frees them if they are not).
func notWritten(err error) bool {
	return errors.Is(err, eventstore.ErrWrongExpectedRevision) || errors.Is(err, eventstore.ErrInvalidEvent) ||
		errors.Is(err, eventstore.ErrInvalidStreamName) || errors.Is(err, eventstore.ErrInvalidExpectedRevision)
}

// sleep waits the attempt-th jittered backoff, or until ctx is done.
func (h *Handler[S]) sleep(ctx context.Context, attempt int) error {
	d := h.cfg.minBackoff
	for i := 0; i < attempt && d < h.cfg.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, h.cfg.maxBackoff)
	if d <= 0 {
		return ctx.Err()
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
