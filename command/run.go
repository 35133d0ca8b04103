package command

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/idemkit/idem/internal/quote"
)

// call is one Handle call on its way through the pipeline.
type call[C any] struct {
	// ctx is the caller's context: a batch runs until every caller gave up.
	ctx    context.Context
	cmd    Command[C]
	stream string
	// meta is the metadata the command's events carry; Attempt changes per append.
	meta Metadata
	// failed counts the appends that failed with a conflict or an unknown outcome.
	failed int
	// claimed are the keys this call took from free (G5). keepClaims says whether
	// the command's events are, or may be, stored: then the keys are in use;
	// otherwise they are withdrawn when the call ends.
	claimed    []string
	keepClaims bool
	// unsettled are the attempt ids of this call's appends whose outcome was
	// unknown: a command found recorded under one of them was applied by this call,
	// not by another handler (G4).
	unsettled []string

	// state is the call's place in its stream's queue (callQueued...); wake is
	// signalled when its answer is set or when it is promoted to run a batch.
	state atomic.Int32
	wake  chan struct{}
	res   Result
	err   error
}

// finish sets the call's answer.
func (cl *call[C]) finish(res Result, err error) { cl.res, cl.err = res, err }

// errorf wraps an error with the command and its stream.
func (cl *call[C]) errorf(format string, args ...any) error {
	return fmt.Errorf("handle command %s on %s: "+format, append([]any{quote.Q(cl.cmd.ID), cl.stream}, args...)...)
}

// run handles cl on its stream; the caller holds the stream's turn. Each pass:
// find the aggregate, answer a duplicate from its processed set, decide, answer
// what writes nothing, append; a conflict or an unknown outcome catches the
// aggregate up and goes round again, within the retry budget.
func (h *Handler[S, C, E]) run(ctx context.Context, turn *streamTurn[S, C], cl *call[C]) (Result, error) {
	defer h.releaseClaims(ctx, cl)
	if h.cache.get(cl.stream) == nil && turn.last == nil {
		// Not in memory: a store that finds events by id answers a duplicate
		// without loading the aggregate (G3).
		if res, err, done := h.recordedElsewhere(ctx, cl); done {
			return res, err
		}
	}
	// fresh reports whether a was brought up to the stream's head during this
	// call; a cached aggregate may be stale (another process may have written).
	a, fresh, err := h.acquire(ctx, turn, cl.stream)
	for {
		if err != nil {
			return Result{}, cl.errorf("%w", err)
		}
		if res, err, done := h.answerFromRecord(ctx, a, cl); done {
			return res, err
		}
		var d decision[S, E]
		_, span := h.decideSpan(ctx)
		d, err = h.decideOn(a, cl.cmd.Payload)
		span.End()
		if err != nil {
			return Result{}, cl.errorf("%w", err)
		}
		cl.keepClaims = false
		if !fresh && !h.writes(d) {
			// A stale cached state is caught by the Exact append, but an outcome
			// that writes nothing would escape that check: confirm it on the
			// stored state, caught up.
			a, err = h.refresh(ctx, turn, a)
			fresh = true
			continue
		}
		if res, err, final := h.answerWithoutWrite(cl, d); final {
			return res, err
		}
		data, perr := h.prepareAppend(ctx, cl, d)
		if perr != nil {
			return Result{}, perr
		}
		res, aerr := h.appendEvents(ctx, cl.stream, d.expected(), data)
		if aerr == nil {
			cl.keepClaims = d.kind == decidedEvents
			return h.settle(ctx, a, cl, d, data, res)
		}
		if ferr := h.afterFailedAppend(ctx, cl, a, d, aerr); ferr != nil {
			return Result{}, ferr
		}
		// A conflict (another writer) or an unknown outcome (the append may be
		// stored: its derived ids make the retry harmless, G2). Catch a up and look
		// again; a stays as it was, stale but whole, until the catch-up succeeds.
		a, err = h.refresh(ctx, turn, a)
		fresh = true
	}
}

// answerFromRecord answers cl when its command is already recorded: in a's
// processed set, or, when the set is partial, found by the store (after a was
// loaded, so that nothing recorded up to a's revision is missed). done is true
// then.
func (h *Handler[S, C, E]) answerFromRecord(ctx context.Context, a *loaded[S], cl *call[C]) (res Result, err error, done bool) {
	var prune func(*loaded[S])
	if h.cfg.windowAge > 0 {
		prune = h.pruneWindow // a cached set ages too
	}
	p, recent, seen, complete := a.processed(cl.cmd.ID, prune)
	if seen {
		cl.keepClaims = p.Rejection == "" && !p.NoOp
		res, err = h.duplicate(ctx, cl, p, recent)
		return res, err, true
	}
	if complete {
		return Result{}, nil, false
	}
	return h.recordedElsewhere(ctx, cl)
}

// recordedElsewhere looks cl's command up in the store (lookUp); done is true when
// it is recorded (or the lookup failed), and res and err are then Handle's answer.
func (h *Handler[S, C, E]) recordedElsewhere(ctx context.Context, cl *call[C]) (res Result, err error, done bool) {
	p, events, found, err := h.lookUp(ctx, cl.stream, cl.cmd.ID)
	switch {
	case err != nil:
		return Result{}, cl.errorf("%w", err), true
	case !found:
		return Result{}, nil, false
	}
	cl.keepClaims = p.Rejection == "" && !p.NoOp
	res, err = h.duplicate(ctx, cl, p, events)
	return res, err, true
}
