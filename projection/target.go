package projection

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
)

// Target is where read models and their bookkeeping live: a SQLite database
// (projection/sqlitetarget), a PostgreSQL one, any store with transactions. Tx is
// the type a projection's Setup and Handle write through.
//
// The runner never writes a read model or its bookkeeping outside Write: every
// batch of events, the checkpoint and per-stream guards it moves, a parked event, a
// new generation and the switch of readers to it each commit in one Write, whole or
// not at all. That is what makes G8 and G9 hold for any target.
//
// Errors: a Target wraps, so that errors.Is matches them, ErrRetired and
// ErrCheckpointMoved where Writer says so, ErrParkedNotFound, ErrInvalidProjection
// for a definition the target cannot hold (a table Setup did not create, a view
// name taken by a table), eventstore.ErrCorrupt (best as a *CorruptError) for
// bookkeeping it cannot decode, and ErrTargetUnavailable for failures worth
// retrying (a lock not obtained in time, a connection lost). The runner retries
// every other failure of a Write too, within its retry policy. A Tx whose
// statements fail that way should say so too: a handler error matching
// ErrTargetUnavailable makes the runner retry the batch as the target's failure,
// never count the event as poison.
type Target[Tx any] interface {
	// Init creates the bookkeeping if it is missing. The runner calls it, retrying
	// it as its retry policy says, before anything else; it must be idempotent and
	// safe to run from several processes at once.
	Init(ctx context.Context) error

	// Generations returns the generations recorded under name (a projection's
	// builds, or a reactor's one generation), by ascending number; none is no
	// error.
	Generations(ctx context.Context, name string) ([]Generation, error)

	// Guards returns the per-stream guard of generation of name for each of streams
	// that has one: the last revision applied from that stream.
	Guards(ctx context.Context, name string, generation int, streams []string) (map[string]uint64, error)

	// Parked returns the parked events of every generation of name, by generation
	// then position.
	Parked(ctx context.Context, name string) ([]ParkedEvent, error)

	// Write runs fn in one write transaction and commits it if fn returns nil. If
	// fn fails, everything it wrote is rolled back and Write returns fn's error as
	// is (wrapped at most), so that errors.As finds what fn returned.
	//
	// Writes under the same name must be serialised: one runs after the other has
	// committed or rolled back, in this process or any other (SQLite has one writer
	// anyway; PostgreSQL can take a transaction-scoped advisory lock on the name).
	// The per-stream guard relies on it: two Writes reading a guard at once could
	// both apply the event it guards (G8). fn's Writer and Tx must not be used after
	// fn returns.
	Write(ctx context.Context, name string, fn func(w Writer[Tx]) error) error
}

// Writer is the bookkeeping of one name (a projection or a reactor) inside one
// Target.Write transaction. Generations are named by number; every method reads or
// writes in the transaction, so a Write sees its own changes and commits them with
// the read model's.
type Writer[Tx any] interface {
	// Generations returns the generations of the name, by ascending number, as
	// this transaction sees them.
	Generations(ctx context.Context) ([]Generation, error)

	// Create records generation g (its Number, Kind, Version and Tables; state
	// Building, checkpoint Start) and, for a projection, calls setup with a Tx over
	// g's physical tables, then checks that setup created each of g.Tables; a table
	// missing fails with ErrInvalidProjection.
	Create(ctx context.Context, g Generation, setup func(tx Tx) error) error

	// Activate makes generation the one readers read: for each of its logical
	// tables, readers' name (a view, say) now reads its physical table, and names
	// of logical tables that other generations had and it lacks are removed; its
	// state becomes Active. The caller retires the previously active generation
	// in the same transaction, so a reader sees the old read model or the new one,
	// never a mix (G9).
	Activate(ctx context.Context, generation int) error

	// Retire marks generation Retired: a Claim or Advance of it fails with
	// ErrRetired from then on. Its tables stay until Drop.
	Retire(ctx context.Context, generation int) error

	// Drop removes a retired generation's tables, per-stream guards and parked
	// events. Its record stays, Retired, with no Tables, so that a runner still
	// running it learns it was retired.
	Drop(ctx context.Context, generation int) error

	// Claim checks that generation may still be written to (Building or Active),
	// failing with ErrRetired if it was retired.
	Claim(ctx context.Context, generation int) error

	// Advance moves generation's checkpoint from `from` to `to`. It fails with
	// ErrCheckpointMoved if the checkpoint was not at `from` (another runner moved
	// it), and with ErrRetired if the generation was retired.
	Advance(ctx context.Context, generation int, from, to eventstore.Position) error

	// Guards returns the per-stream guard of each of streams that has one.
	Guards(ctx context.Context, generation int, streams []string) (map[string]uint64, error)

	// SaveGuards sets the per-stream guard of each stream in guards, keeping the
	// higher revision where one is recorded: a guard never moves back (G8).
	SaveGuards(ctx context.Context, generation int, guards map[string]uint64) error

	// Park records e as parked in generation. If the event is already parked
	// there, it adds e.Attempts to its attempts and replaces its error and time.
	Park(ctx context.Context, generation int, e ParkedEvent) error

	// Unpark removes a parked event, failing with ErrParkedNotFound if it is not
	// parked in generation (any more).
	Unpark(ctx context.Context, generation int, id uuid.UUID) error

	// Tx returns the transaction g's Setup and Handle write through: it writes to
	// g's physical tables, in this Write's transaction. ctx is the one passed to
	// Write.
	Tx(ctx context.Context, g Generation) Tx
}

// Generation is one build of a projection (1, 2, 3...) or a reactor's single
// generation, as its target records it. Each build of a projection has its own
// physical tables; readers read the Active one's (G9).
type Generation struct {
	// Name is the projection's or reactor's name.
	Name string
	// Number is 1 for the first build, then one more per build.
	Number int
	// Kind says whether it is a projection's build or a reactor's checkpoint.
	Kind Kind
	// Version is the Projection.Version of the code that builds it (0 for a
	// reactor).
	Version int
	// State is Building, Active or Retired.
	State GenerationState
	// Tables are the projection's logical tables; none once a retired generation
	// was dropped, and none for a reactor.
	Tables []string
	// Checkpoint is the position of the last event the generation committed.
	Checkpoint eventstore.Position
	// Parked is the number of its parked events.
	Parked int
	// Created and Updated are when it was recorded and last written.
	Created, Updated time.Time
}

// Kind is what a name belongs to: a projection or a reactor.
type Kind uint8

const (
	// KindProjection is a projection's generation.
	KindProjection Kind = iota + 1
	// KindReactor is a reactor's (single) generation.
	KindReactor
)

// String returns "projection" or "reactor".
func (k Kind) String() string {
	switch k {
	case KindProjection:
		return "projection"
	case KindReactor:
		return "reactor"
	default:
		return "unknown"
	}
}

// GenerationState is where a generation is in its life: Building, then Active
// (readers read it), then Retired (replaced, or abandoned).
type GenerationState uint8

const (
	// Building: built from position zero beside the active generation; readers do
	// not see it yet.
	Building GenerationState = iota + 1
	// Active: readers read it; at most one generation of a name is active.
	Active
	// Retired: replaced by another generation (or an abandoned build); nothing
	// writes to it any more and its tables are dropped.
	Retired
)

// String returns "building", "active" or "retired".
func (s GenerationState) String() string {
	switch s {
	case Building:
		return "building"
	case Active:
		return "active"
	case Retired:
		return "retired"
	default:
		return "unknown"
	}
}

// ParseGenerationState is the inverse of GenerationState.String, for targets
// reading their records; an unknown text fails with a *CorruptError.
func ParseGenerationState(s string) (GenerationState, error) {
	for _, st := range []GenerationState{Building, Active, Retired} {
		if s == st.String() {
			return st, nil
		}
	}
	return 0, &CorruptError{What: "generation state", Reason: "unknown state " + quoteShort(s)}
}

// ParseKind is the inverse of Kind.String, for targets reading their records; an
// unknown text fails with a *CorruptError.
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{KindProjection, KindReactor} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, &CorruptError{What: "generation kind", Reason: "unknown kind " + quoteShort(s)}
}

// ParkedEvent is an event set aside by PoisonPark.
type ParkedEvent struct {
	// Projection is the projection's or reactor's name.
	Projection string
	// Generation is the generation it was parked in.
	Generation int
	Event      eventstore.RecordedEvent
	// Err is the last handler error, as text.
	Err string
	// Attempts is the number of times the handler was called for it.
	Attempts int
	// ParkedAt is when it was parked, or last re-run without success.
	ParkedAt time.Time
}
