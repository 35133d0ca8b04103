// Package reservation claims uniqueness keys that are not an aggregate's identity
// (G5): keys that change (an e-mail address) or that are several per
// aggregate. Each (scope, key) has its own reservation stream, named
// "reservation-<UUIDv5 of scope and key>", holding claim and release events.
//
//   - Claim appends a claim with NoStream (or Exact after a release), so of two
//     owners racing for a key exactly one wins; the other gets *ClaimedError naming
//     the owner.
//   - The owner's own retry sees its own claim and goes on, so a crash between the
//     claim and the owner's write heals on retry. Claim event ids are derived from
//     the stream, the owner, the command and the revision, so a claim retried after
//     a lost acknowledgement is recognised by the store (G2).
//   - Another command of the same owner that finds the claim joins it (a joined
//     event, appended with Exact): two commands for one aggregate may both rely on
//     one key, and whichever writes, the key stays claimed.
//   - Release frees a key held by its owner; the key can be claimed again.
//   - Withdraw frees a key only for the command that claimed it, and only when no
//     other command has joined the claim: the command handler withdraws the keys of
//     a command that ends up writing nothing. A joined claim is left to Reconcile,
//     because the joiner may be about to write.
//   - Reconcile lists the claims none of whose commands was ever recorded by its
//     owner (a crash, then no retry) and releases them.
package reservation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/internal/telemetry"
)

// Category is the category of reservation streams.
const Category = "reservation"

// Event types of reservation streams.
const (
	ClaimedEventType  = "$idem.reservation.claimed"
	JoinedEventType   = "$idem.reservation.joined"
	ReleasedEventType = "$idem.reservation.released"
)

var (
	// ErrClaimed: the key is held by another owner. Matches every *ClaimedError.
	ErrClaimed = errors.New("key already claimed")
	// ErrNotOwner: a release named an owner that does not hold the key.
	ErrNotOwner = errors.New("key not held by this owner")
	// ErrInvalidKey: an empty scope, key or owner.
	ErrInvalidKey = errors.New("invalid reservation key")
)

// namespace is the UUID namespace of reservation streams and claim event ids; fixed
// forever.
var namespace = uuid.MustParse("0b9e6a55-2f3c-5d8e-a1b4-7c6d5e4f3a2b")

// Claim is the current holder of a key.
type Claim struct {
	Scope string `json:"scope"`
	Key   string `json:"key"`
	// Owner holds the key: the command handler uses the aggregate's stream.
	Owner string `json:"owner"`
	// CommandID is the command that claimed (or last re-claimed) the key.
	CommandID string `json:"command_id"`
	// OwnerStream is the stream where the owner records CommandID; Reconcile reads
	// it. Empty when the claimant did not say.
	OwnerStream string `json:"owner_stream,omitempty"`
	// ClaimedAt is when the claim was made (the Reservations clock).
	ClaimedAt time.Time `json:"claimed_at"`
	// Joined lists the owner's other commands that found the claim and rely on it.
	Joined []string `json:"joined,omitempty"`
	// JoinedAt is when the last of them joined.
	JoinedAt time.Time `json:"joined_at,omitzero"`
	// Stream and Revision locate the claim event.
	Stream   string `json:"-"`
	Revision uint64 `json:"-"`
}

// ClaimedError reports a key held by another owner. It matches ErrClaimed.
type ClaimedError struct {
	Scope, Key string
	// Owner and CommandID hold the key.
	Owner     string
	CommandID string
}

// Error names the key and who holds it.
func (e *ClaimedError) Error() string {
	return fmt.Sprintf("claim %s key %s: %v by %s (command %q)", e.Scope, quote.Q(e.Key), ErrClaimed, e.Owner, e.CommandID)
}

// Is makes errors.Is(err, ErrClaimed) true.
func (e *ClaimedError) Is(target error) bool { return target == ErrClaimed }

// Option configures New. An option given a value it cannot use makes New fail
// with ErrInvalidReservations.
type Option func(*Reservations) error

// ErrInvalidReservations: New was given a nil store or a bad option.
var ErrInvalidReservations = errors.New("invalid reservations")

// WithClock sets the clock that stamps ClaimedAt (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(r *Reservations) error {
		if now == nil {
			return fmt.Errorf("%w: WithClock(nil)", ErrInvalidReservations)
		}
		r.now = now
		return nil
	}
}

// WithMeterProvider sets where the reservation metrics go; by default the OTel
// global provider (see docs/observability.md).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(r *Reservations) error {
		if mp == nil {
			return fmt.Errorf("%w: WithMeterProvider(nil)", ErrInvalidReservations)
		}
		r.tel.Meter = mp
		return nil
	}
}

// count records one operation's result.
func (r *Reservations) count(ctx context.Context, op, result string) {
	r.ops.Add(ctx, 1, metric.WithAttributes(attribute.String("idem.operation", op), telemetry.Result.String(result)))
}

// WithRetries bounds how many times Claim and Release re-read after a concurrent
// change of the same reservation stream (default 5).
func WithRetries(n int) Option {
	return func(r *Reservations) error {
		if n < 0 {
			return fmt.Errorf("%w: WithRetries(%d): negative", ErrInvalidReservations, n)
		}
		r.retries = n
		return nil
	}
}

// Reservations claims and releases keys in an event store. It is safe for
// concurrent use.
type Reservations struct {
	store   eventstore.Store
	now     func() time.Time
	retries int
	tel     telemetry.Providers
	ops     metric.Int64Counter
}

// New returns Reservations over store.
func New(store eventstore.Store, opts ...Option) (*Reservations, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil event store", ErrInvalidReservations)
	}
	r := &Reservations{store: store, now: time.Now, retries: 5}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(r); err != nil {
			return nil, err
		}
	}
	r.ops = telemetry.Must(r.tel.MeterFor("github.com/idemkit/idem/reservation").Int64Counter("idem.reservation.operations",
		metric.WithUnit("{operation}"),
		metric.WithDescription("Reservation operations, by idem.operation (claim, release, withdraw, reconcile) and idem.result.")))
	return r, nil
}

// StreamFor returns the reservation stream of key in scope.
func StreamFor(scope, key string) string {
	return Category + "-" + uuid.NewSHA1(namespace, []byte(scope+"\x00"+key)).String()
}

// Claimant says who claims a key.
type Claimant struct {
	// Owner holds the key; the same owner's later claims of it succeed.
	Owner string
	// CommandID is the command on whose behalf the key is claimed.
	CommandID string
	// OwnerStream is where the owner records CommandID (for Reconcile).
	OwnerStream string
}

// Claim claims key in scope for c.Owner. It succeeds when the key is free (its
// stream does not exist or its last event is a release): the returned claim names
// c.CommandID. When the same owner already holds the key it succeeds too: the
// claiming command's own retry after a crash writes nothing; another command of the
// same owner joins the claim (one appended event), so that the claimant cannot
// withdraw a key the joiner may write. The returned claim names the command that
// made it. Another owner's claim fails with *ClaimedError.
func (r *Reservations) Claim(ctx context.Context, scope, key string, c Claimant) (Claim, error) {
	if scope == "" || key == "" || c.Owner == "" {
		return Claim{}, fmt.Errorf("claim %s key %s for %q: %w", scope, quote.Q(key), c.Owner, ErrInvalidKey)
	}
	stream := StreamFor(scope, key)
	var last error
	for attempt := 0; attempt <= r.retries; attempt++ {
		cur, rev, exists, err := r.current(ctx, stream)
		if err != nil {
			return Claim{}, fmt.Errorf("claim %s key %s: %w", scope, quote.Q(key), err)
		}
		if cur != nil {
			if cur.Owner != c.Owner {
				r.count(ctx, "claim", "conflict")
				return Claim{}, &ClaimedError{Scope: scope, Key: key, Owner: cur.Owner, CommandID: cur.CommandID}
			}
			if cur.CommandID == c.CommandID || slices.Contains(cur.Joined, c.CommandID) {
				r.count(ctx, "claim", "retry")
				return *cur, nil // a retry: the claim stands as it was made
			}
			joined, err := r.join(ctx, stream, *cur, c.CommandID)
			if err == nil {
				r.count(ctx, "claim", "joined")
				return joined, nil
			}
			if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
				return Claim{}, fmt.Errorf("claim %s key %s: %w", scope, quote.Q(key), err)
			}
			last = err
			continue
		}
		claim := Claim{Scope: scope, Key: key, Owner: c.Owner, CommandID: c.CommandID, OwnerStream: c.OwnerStream,
			ClaimedAt: r.now().UTC(), Stream: stream}
		expected := eventstore.NoStream()
		next := uint64(0)
		if exists {
			expected, next = eventstore.Exact(rev), rev+1
		}
		data, err := json.Marshal(claim)
		if err != nil {
			return Claim{}, fmt.Errorf("claim %s key %s: %w", scope, quote.Q(key), err)
		}
		ev := eventstore.EventData{ID: eventID(stream, ClaimedEventType, c.Owner, c.CommandID, next), Type: ClaimedEventType, Data: data}
		res, err := r.store.Append(ctx, stream, expected, ev)
		if err == nil {
			claim.Revision = res.Revision
			r.count(ctx, "claim", "claimed")
			return claim, nil
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			return Claim{}, fmt.Errorf("claim %s key %s: %w", scope, quote.Q(key), err)
		}
		last = err
	}
	return Claim{}, fmt.Errorf("claim %s key %s: gave up after %d conflicts: %w", scope, quote.Q(key), r.retries+1, last)
}

// join records that commandID, another command of cur's owner, relies on the claim.
// It appends with Exact, so a concurrent withdrawal and the join cannot both win.
func (r *Reservations) join(ctx context.Context, stream string, cur Claim, commandID string) (Claim, error) {
	joined := cur
	joined.Joined = append(slices.Clone(cur.Joined), commandID)
	joined.JoinedAt = r.now().UTC()
	data, err := json.Marshal(joined)
	if err != nil {
		return Claim{}, err
	}
	ev := eventstore.EventData{ID: eventID(stream, JoinedEventType, cur.Owner, commandID, cur.Revision+1), Type: JoinedEventType, Data: data}
	res, err := r.store.Append(ctx, stream, eventstore.Exact(cur.Revision), ev)
	if err != nil {
		return Claim{}, err
	}
	joined.Revision = res.Revision
	return joined, nil
}

// Release frees key in scope if owner holds it. Releasing a free key is a no-op;
// releasing another owner's key fails with ErrNotOwner.
func (r *Reservations) Release(ctx context.Context, scope, key, owner string) error {
	if scope == "" || key == "" || owner == "" {
		return fmt.Errorf("release %s key %s for %q: %w", scope, quote.Q(key), owner, ErrInvalidKey)
	}
	released, err := r.releaseIf(ctx, StreamFor(scope, key), fmt.Sprintf("release %s key %s", scope, quote.Q(key)), func(cur Claim) error {
		if cur.Owner != owner {
			return ErrNotOwner
		}
		return nil
	})
	if released {
		r.count(ctx, "release", "released")
	}
	return err
}

// Withdraw frees key in scope if c's command claimed it and no other command of the
// owner has joined the claim; it reports whether it did. Anything else (a free key,
// a claim by another command, a joined claim) is left as it is, without an error: a
// joined claim may be about to be written by the joiner, and Reconcile frees it
// later if it never is.
func (r *Reservations) Withdraw(ctx context.Context, scope, key string, c Claimant) (bool, error) {
	if scope == "" || key == "" || c.Owner == "" || c.CommandID == "" {
		return false, fmt.Errorf("withdraw %s key %s for %q: %w", scope, quote.Q(key), c.Owner, ErrInvalidKey)
	}
	withdrawn, err := r.releaseIf(ctx, StreamFor(scope, key), fmt.Sprintf("withdraw %s key %s", scope, quote.Q(key)), func(cur Claim) error {
		if cur.Owner != c.Owner || cur.CommandID != c.CommandID || len(cur.Joined) > 0 {
			return errLeft
		}
		return nil
	})
	if withdrawn {
		r.count(ctx, "withdraw", "released")
	}
	return withdrawn, err
}

// errLeft tells releaseIf to leave the claim as it is, and report no error.
var errLeft = errors.New("claim left as it is")

// releaseIf appends a release to stream if its current claim passes check (nil);
// a check error other than errLeft is returned, wrapped with what. The append is
// Exact, so a claim that changes meanwhile is checked again.
func (r *Reservations) releaseIf(ctx context.Context, stream, what string, check func(cur Claim) error) (bool, error) {
	var last error
	for attempt := 0; attempt <= r.retries; attempt++ {
		cur, rev, _, err := r.current(ctx, stream)
		if err != nil {
			return false, fmt.Errorf("%s: %w", what, err)
		}
		if cur == nil {
			return false, nil
		}
		if err := check(*cur); errors.Is(err, errLeft) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("%s: %w: held by %s (command %q)", what, err, cur.Owner, cur.CommandID)
		}
		data, _ := json.Marshal(map[string]string{"owner": cur.Owner, "command_id": cur.CommandID})
		ev := eventstore.EventData{ID: eventID(stream, ReleasedEventType, cur.Owner, cur.CommandID, rev+1), Type: ReleasedEventType, Data: data}
		_, err = r.store.Append(ctx, stream, eventstore.Exact(rev), ev)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			return false, fmt.Errorf("%s: %w", what, err)
		}
		last = err
	}
	return false, fmt.Errorf("%s: gave up after %d conflicts: %w", what, r.retries+1, last)
}

// Lookup returns the current claim of key in scope; ok is false when it is free.
func (r *Reservations) Lookup(ctx context.Context, scope, key string) (c Claim, ok bool, err error) {
	cur, _, _, err := r.current(ctx, StreamFor(scope, key))
	if err != nil {
		return Claim{}, false, fmt.Errorf("look up %s key %s: %w", scope, quote.Q(key), err)
	}
	if cur == nil {
		return Claim{}, false, nil
	}
	return *cur, true, nil
}

// Recorded reports whether a claim's command, or one of the commands that joined it
// (Claim.Joined), was recorded by its owner.
type Recorded func(ctx context.Context, c Claim) (bool, error)

// Reconcile scans every reservation stream and releases each claim made (and last
// joined) before olderThan ago for which recorded says no command was ever recorded
// (the owner crashed between claim and write and nobody retried). It returns the
// claims it released. Claims younger than olderThan are left alone: their commands
// may still be in flight. A claim that changes while Reconcile runs is left too. It reads the whole global log, filtered to reservation streams: run it
// as an occasional operation, not per command.
func (r *Reservations) Reconcile(ctx context.Context, olderThan time.Duration, recorded Recorded) ([]Claim, error) {
	if recorded == nil {
		return nil, fmt.Errorf("reconcile reservations: %w: nil Recorded", ErrInvalidKey)
	}
	stale, err := r.Stale(ctx, olderThan, recorded)
	if err != nil {
		return nil, fmt.Errorf("reconcile reservations: %w", err)
	}
	var freed []Claim
	for _, c := range stale {
		s := c.Stream
		judged := c.Revision
		released, err := r.releaseIf(ctx, s, "reconcile reservation "+s, func(cur Claim) error {
			if cur.Revision != judged {
				return errLeft // claimed again or joined meanwhile
			}
			return nil
		})
		if err != nil {
			return freed, err
		}
		if released {
			freed = append(freed, c)
			r.count(ctx, "reconcile", "released")
		}
	}
	return freed, nil
}

// current returns the stream's holder (nil when free), its last revision and
// whether it exists.
func (r *Reservations) current(ctx context.Context, stream string) (*Claim, uint64, bool, error) {
	for ev, err := range r.store.ReadStream(ctx, stream, eventstore.StreamEnd, eventstore.Backwards(), eventstore.Limit(1)) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				return nil, 0, false, nil
			}
			return nil, 0, false, err
		}
		if ev.Type != ClaimedEventType && ev.Type != JoinedEventType {
			return nil, ev.Revision, true, nil
		}
		var c Claim
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			return nil, 0, false, fmt.Errorf("%s@%d: %w: %w", stream, ev.Revision, eventstore.ErrCorrupt, err)
		}
		c.Stream, c.Revision = ev.Stream, ev.Revision
		return &c, ev.Revision, true, nil
	}
	return nil, 0, false, nil
}

func eventID(stream, typ, owner, commandID string, revision uint64) uuid.UUID {
	return uuid.NewSHA1(namespace, []byte(stream+"\x00"+typ+"\x00"+owner+"\x00"+commandID+"\x00"+strconv.FormatUint(revision, 10)))
}
