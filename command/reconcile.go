package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/reservation"
)

// Recorded reports whether command commandID wrote events (or a marker) to stream.
// It scans the whole stream's metadata, ignoring snapshots and the dedupe window, so
// it answers for commands of any age; it is meant for reconciliation, not the hot
// path.
func (h *Handler[S, C, E]) Recorded(ctx context.Context, stream, commandID string) (bool, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return false, err
	}
	for ev, err := range h.store.ReadStream(ctx, stream, 0) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				return false, nil
			}
			return false, fmt.Errorf("look for command %s in %s: %w", quote.Q(commandID), stream, err)
		}
		m, isCommand, err := readMetadata(ev.Metadata)
		if err != nil {
			// An unreadable record may be this command's: the answer would be a guess.
			return false, fmt.Errorf("look for command %s in %s: event at revision %d: %w: %w",
				quote.Q(commandID), stream, ev.Revision, eventstore.ErrCorrupt, err)
		}
		if isCommand && m.CommandID == commandID {
			return true, nil
		}
	}
	return false, nil
}

// ReconcileReservations releases the reservation claims made before olderThan ago
// none of whose commands (the claimant and those that joined) was ever recorded in
// the owner's stream: a handler crashed between
// claim and append and the command was never retried (G5). It returns the claims it
// released. Run it as an occasional operation: it reads every reservation stream.
func (h *Handler[S, C, E]) ReconcileReservations(ctx context.Context, olderThan time.Duration) ([]reservation.Claim, error) {
	if h.cfg.reservations == nil {
		return nil, nil // a decider without keys claims nothing
	}
	return h.cfg.reservations.Reconcile(ctx, olderThan, func(ctx context.Context, c reservation.Claim) (bool, error) {
		if c.OwnerStream == "" {
			return true, nil // not ours to judge
		}
		for _, id := range append([]string{c.CommandID}, c.Joined...) {
			if ok, err := h.Recorded(ctx, c.OwnerStream, id); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	})
}
