package projection

import (
	"context"
	"fmt"

	"github.com/idemkit/idem/eventstore"
)

// Reactor defines a handler with side effects (emails, calls to other systems).
// Unlike a projection it has no read model, so its effects cannot commit with its
// checkpoint: a reactor is at-least-once, made safe by an idempotency key.
//
// For each event the runner calls Handle, then commits the reactor's checkpoint and
// per-stream guard in the target. A crash between the two means Handle is called
// again for that event (at most one event per reactor) after a restart, with the
// same IdempotencyKey: the downstream system must dedupe on it.
//
// Reactors are never run by a rebuild (G10): a new generation of a projection does
// not resend emails. They run in CatchUp mode after downtime (the events they
// missed are still theirs to act on) and in Live mode after that.
type Reactor struct {
	// Name identifies the reactor's checkpoint in the target. It must not be the
	// name of a projection in the same target.
	Name string
	// EventTypes and StreamPrefixes select the events it receives.
	EventTypes     []string
	StreamPrefixes []string
	// NewOnly makes a reactor with no checkpoint yet start at the head of the log,
	// so history written before it existed causes no side effects. Without it, a new
	// reactor starts at position zero.
	NewOnly bool
	// Handle performs the side effect for one event, passing e.IdempotencyKey on.
	Handle func(ctx context.Context, e ReactorEvent) error
	// Poison says what happens when Handle keeps failing: PoisonStop (default) or
	// PoisonPark.
	Poison PoisonPolicy
}

// ReactorEvent is an event delivered to a Reactor.
type ReactorEvent struct {
	eventstore.RecordedEvent
	// Mode is CatchUp or Live, never Rebuild.
	Mode Mode
	// IdempotencyKey is the event id, as text: pass it to the downstream system so
	// that a repeated call (after a crash) has no second effect.
	IdempotencyKey string
}

func (re Reactor) validate() error {
	bad := func(reason string) error {
		return fmt.Errorf("reactor %s: %w: %s", quoteShort(re.Name), ErrInvalidProjection, reason)
	}
	switch {
	case re.Name == "":
		return bad("empty name")
	case re.Handle == nil:
		return bad("no Handle function")
	case re.Poison > PoisonPark:
		return bad("unknown poison policy")
	}
	return nil
}
