package command

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
	"github.com/idemkit/idem/reservation"
)

// prepareAppend builds what an attempt appends for d (eventsOf), after claiming the
// command's keys (G5).
func (h *Handler[S, C, E]) prepareAppend(ctx context.Context, cl *call[C], d decision[S, E]) ([]eventstore.EventData, error) {
	data, err := h.eventsOf(cl, d)
	if err != nil {
		return nil, err
	}
	if d.kind == decidedEvents && h.decider.Keys != nil {
		if err := h.claim(ctx, cl); err != nil {
			return nil, cl.errorf("%w", err)
		}
	}
	return data, nil
}

// eventsOf builds what an attempt appends for d, under a new attempt id: the
// command's events, or the marker of a recorded rejection or no-op.
func (h *Handler[S, C, E]) eventsOf(cl *call[C], d decision[S, E]) ([]eventstore.EventData, error) {
	cl.meta.Attempt = newAttemptID()
	switch d.kind {
	case decidedRejection:
		return []eventstore.EventData{markerEvent(cl.stream, cl.meta, RejectedEventType, d.err.Error())}, nil
	case decidedNoOp:
		return []eventstore.EventData{markerEvent(cl.stream, cl.meta, NoOpEventType, "")}, nil
	}
	return h.encodeEvents(cl, d.events)
}

// afterFailedAppend decides what follows a failed append: nil to catch up and try
// again (after a jittered backoff), or the error Handle returns.
func (h *Handler[S, C, E]) afterFailedAppend(ctx context.Context, cl *call[C], a *loaded[S], d decision[S, E], err error) error {
	mayBeStored := !notWritten(err)
	if mayBeStored {
		cl.unsettled = append(cl.unsettled, cl.meta.Attempt)
		cl.keepClaims = cl.keepClaims || d.kind == decidedEvents
	}
	if !retryable(ctx, err) {
		h.cache.evict(cl.stream, a)
		return cl.errorf("%w", err)
	}
	cl.failed++
	if cl.failed > h.cfg.retries {
		h.log.Warn("idem: command retries exhausted", "stream", cl.stream, "command_id", cl.cmd.ID, "attempts", cl.failed, "err", err)
		return &RetriesExhaustedError{CommandID: cl.cmd.ID, Stream: cl.stream, Attempts: cl.failed, Last: err}
	}
	h.stats.conflicts.Add(1)
	h.tel.conflicts.Add(ctx, 1, h.tel.byCategory)
	h.log.Debug("idem: command append retried", "stream", cl.stream, "command_id", cl.cmd.ID, "attempt", cl.failed, "err", err)
	if serr := h.sleep(ctx, cl.failed-1); serr != nil {
		return cl.errorf("%w (after %w)", serr, err)
	}
	return nil
}

// retryable reports whether an append error may be followed by a catch-up and a new
// attempt: conflicts, and failures whose outcome is unknown. Bad input, a closed
// store, a deleted stream and a done context are final.
func retryable(ctx context.Context, err error) bool {
	switch {
	case ctx.Err() != nil,
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, eventstore.ErrInvalidEvent), errors.Is(err, eventstore.ErrInvalidStreamName),
		errors.Is(err, eventstore.ErrInvalidExpectedRevision), errors.Is(err, eventstore.ErrClosed),
		errors.Is(err, eventstore.ErrStreamDeleted), errors.Is(err, eventstore.ErrIncompatible),
		errors.Is(err, eventstore.ErrCorrupt):
		return false
	}
	return true
}

// notWritten reports whether an append error proves that nothing was written.
// After any other failure the outcome is unknown: the events may be stored.
func notWritten(err error) bool {
	return errors.Is(err, eventstore.ErrWrongExpectedRevision) || errors.Is(err, eventstore.ErrInvalidEvent) ||
		errors.Is(err, eventstore.ErrInvalidStreamName) || errors.Is(err, eventstore.ErrInvalidExpectedRevision) ||
		errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrIncompatible)
}

// sleep waits the attempt-th jittered backoff, or until ctx is done.
func (h *Handler[S, C, E]) sleep(ctx context.Context, attempt int) error {
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

// claim claims the command's keys (G5) for its aggregate, recording in cl the keys
// it took from free.
func (h *Handler[S, C, E]) claim(ctx context.Context, cl *call[C]) error {
	keys, err := h.keys(cl.cmd.Payload)
	if err != nil {
		return err
	}
	claimant := reservation.Claimant{Owner: cl.stream, CommandID: cl.cmd.ID, OwnerStream: cl.stream}
	for _, k := range keys {
		c, err := h.cfg.reservations.Claim(ctx, h.decider.Category, k, claimant)
		if err != nil {
			return err
		}
		if c.CommandID == cl.cmd.ID && !slices.Contains(cl.claimed, k) {
			cl.claimed = append(cl.claimed, k)
		}
	}
	return nil
}

// keys calls the decider's Keys, turning a panic into an *idem.PanicError.
func (h *Handler[S, C, E]) keys(cmd C) (keys []string, err error) {
	defer callback.Recover("Keys", &err)
	return h.decider.Keys(cmd), nil
}

// withdrawTimeout bounds the withdrawal of a call's claims.
const withdrawTimeout = 5 * time.Second

// releaseClaims withdraws the keys cl took from free when its command's events are
// not stored. Withdraw frees a key only if no other command of the aggregate has
// joined the claim: a joiner may be writing the key right now (G5). It runs even if
// the caller gave up (a claim left behind waits for ReconcileReservations), but
// not for ever: it holds the aggregate's turn.
func (h *Handler[S, C, E]) releaseClaims(ctx context.Context, cl *call[C]) {
	if cl.keepClaims || len(cl.claimed) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), withdrawTimeout)
	defer cancel()
	claimant := reservation.Claimant{Owner: cl.stream, CommandID: cl.cmd.ID, OwnerStream: cl.stream}
	for _, k := range cl.claimed {
		if _, err := h.cfg.reservations.Withdraw(ctx, h.decider.Category, k, claimant); err != nil {
			h.log.Warn("idem: reservation not withdrawn", "stream", cl.stream, "key", k, "err", err)
		}
	}
	cl.claimed = nil
}
