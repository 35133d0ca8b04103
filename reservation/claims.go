package reservation

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// Claims returns the current claim of every key that is held (released keys are
// left out), in the order the keys were first claimed. It reads the whole global
// log, filtered to reservation streams: an operation for tools, not per command.
func (r *Reservations) Claims(ctx context.Context) ([]Claim, error) {
	open, order, err := r.openClaims(ctx)
	if err != nil {
		return nil, fmt.Errorf("list reservation claims: %w", err)
	}
	var out []Claim
	for _, s := range order {
		if c := open[s]; c != nil {
			out = append(out, *c)
		}
	}
	return out, nil
}

// Stale returns the claims Reconcile would release now, changing nothing: those
// made (and last joined) before olderThan ago for which recorded says that none
// of their commands was recorded. A dry run of Reconcile.
func (r *Reservations) Stale(ctx context.Context, olderThan time.Duration, recorded Recorded) ([]Claim, error) {
	if recorded == nil {
		return nil, fmt.Errorf("judge reservation claims: %w: nil Recorded", ErrInvalidKey)
	}
	claims, err := r.Claims(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := r.now().Add(-olderThan)
	var stale []Claim
	for _, c := range claims {
		if c.ClaimedAt.After(cutoff) || c.JoinedAt.After(cutoff) {
			continue // its commands may still be in flight
		}
		ok, err := recorded(ctx, c)
		if err != nil {
			return stale, fmt.Errorf("judge reservation %s: %w", c.Stream, err)
		}
		if !ok {
			stale = append(stale, c)
		}
	}
	return stale, nil
}

// openClaims reads every reservation stream: the current claim of each (nil once
// released), and the streams in the order they were first claimed.
func (r *Reservations) openClaims(ctx context.Context) (map[string]*Claim, []string, error) {
	open := map[string]*Claim{}
	var order []string
	for ev, err := range r.store.ReadAll(ctx, eventstore.Start(), eventstore.StreamPrefix(Category+"-")) {
		if err != nil {
			return nil, nil, err
		}
		switch ev.Type {
		case ClaimedEventType, JoinedEventType:
			var c Claim
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				return nil, nil, fmt.Errorf("%s@%d: %w: %w", ev.Stream, ev.Revision, eventstore.ErrCorrupt, err)
			}
			c.Stream, c.Revision = ev.Stream, ev.Revision
			if _, seen := open[ev.Stream]; !seen {
				order = append(order, ev.Stream)
			}
			open[ev.Stream] = &c
		case ReleasedEventType:
			open[ev.Stream] = nil
		}
	}
	return open, order, nil
}
