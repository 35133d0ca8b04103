package projection

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/idemkit/idem/eventstore"
)

// Projection defines a read model built from events into a Target, through the
// target's transaction type Tx (*sqlitetarget.Tx for SQLite).
//
// Each build of a projection is a generation with its own physical tables (see
// Generation); readers read the active generation through names the target keeps
// for the logical Tables (views, on SQL targets). Deploying code with a higher
// Version makes the runner build a new generation beside the active one and switch
// readers to it once caught up (G9); Runner.Rebuild does the same now, without a
// code change.
type Projection[Tx any] struct {
	// Name identifies the projection in the target: its generations, checkpoints,
	// guards and parked events are kept under it.
	Name string
	// Version is the version of the code, 1 or more: bump it when Setup or Handle
	// change in a way that needs the read model rebuilt, and the runner rebuilds it
	// when the new code first runs. A runner whose Version is below the active
	// generation's steps aside for that projection.
	Version int
	// Tables are the logical names of the tables Setup creates (letters, digits and
	// underscores, at most 48, not starting with idem_, sqlite_ or pg_). Readers
	// read them by these names.
	Tables []string
	// EventTypes and StreamPrefixes select the events the projection receives
	// (both empty: every event). They are passed to the store, which filters.
	EventTypes     []string
	StreamPrefixes []string
	// Setup creates a generation's tables, once, when the generation is created,
	// in the transaction that records it.
	Setup func(ctx context.Context, tx Tx) error
	// Handle applies one event to the read model, through tx only. It runs inside
	// the batch's transaction, which also moves the checkpoint (G8); returning an
	// error rolls the batch back and the event is retried (see Poison). It must
	// not cause side effects outside tx: use a Reactor for those.
	Handle func(ctx context.Context, tx Tx, e Event) error
	// Poison says what happens when Handle keeps failing on an event: PoisonStop
	// (the default) or PoisonPark.
	Poison PoisonPolicy
}

// Event is an event delivered to a projection, with the mode it is applied in.
type Event struct {
	eventstore.RecordedEvent
	Mode Mode
}

// PoisonPolicy says what a runner does with an event whose handler failed on every
// retry.
type PoisonPolicy uint8

const (
	// PoisonStop stops the projection with a *HandlerError naming the event; Run
	// returns it. Nothing after the event is applied. This is the default.
	PoisonStop PoisonPolicy = iota
	// PoisonPark records the event as parked (in the same transaction as the
	// checkpoint and guard moving past it) and goes on. Parked events can be
	// listed, re-run and skipped (Runner.Parked, RetryParked, SkipParked).
	PoisonPark
)

// maxTableName leaves room for a generation suffix within PostgreSQL's 63 bytes.
const maxTableName = 48

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidTable reports whether t can be a logical table name: letters, digits and
// underscores, at most 48, not starting with idem_, sqlite_ or pg_ (names the
// targets keep for themselves). Targets may rely on it for quoting.
func ValidTable(t string) bool {
	lower := strings.ToLower(t)
	return identifier.MatchString(t) && len(t) <= maxTableName &&
		!strings.HasPrefix(lower, "idem_") && !strings.HasPrefix(lower, "sqlite_") && !strings.HasPrefix(lower, "pg_")
}

func (p Projection[Tx]) validate() error {
	bad := func(reason string) error {
		return fmt.Errorf("projection %s version %d: %w: %s", quoteShort(p.Name), p.Version, ErrInvalidProjection, reason)
	}
	switch {
	case p.Name == "":
		return bad("empty name")
	case p.Version < 1:
		return bad("version must be 1 or more")
	case p.Handle == nil:
		return bad("no Handle function")
	case p.Setup == nil:
		return bad("no Setup function")
	case len(p.Tables) == 0:
		return bad("no Tables")
	case p.Poison > PoisonPark:
		return bad("unknown poison policy")
	}
	seen := map[string]bool{}
	for _, t := range p.Tables {
		if !ValidTable(t) {
			return bad(fmt.Sprintf("table name %s must be letters, digits and underscores, at most %d, not starting with idem_, sqlite_ or pg_",
				quoteShort(t), maxTableName))
		}
		if seen[strings.ToLower(t)] {
			return bad(fmt.Sprintf("table %s listed twice", quoteShort(t)))
		}
		seen[strings.ToLower(t)] = true
	}
	return nil
}

// readOptions are the store filters of a projection or reactor.
func readOptions(types, prefixes []string) []eventstore.ReadOption {
	var opts []eventstore.ReadOption
	if len(types) > 0 {
		opts = append(opts, eventstore.EventTypes(types...))
	}
	if len(prefixes) > 0 {
		opts = append(opts, eventstore.StreamPrefix(prefixes...))
	}
	return opts
}
