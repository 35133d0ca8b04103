// Package reservation claims uniqueness keys that are not an aggregate's identity
// (DESIGN G5): keys that change (an e-mail address) or that are several per
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
//   - Release frees a key held by its owner; the key can be claimed again.
//   - Reconcile lists the claims whose command was never recorded by its owner (a
//     crash, then no retry) and releases them.
package reservation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
)

// Category is the category of reservation streams.
const Category = "reservation"

// Event types of reservation streams.
const (
	ClaimedEventType  = "$idem.reservation.claimed"
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

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("claim %s key %q: %v by %s (command %q)", e.Scope, e.Key, ErrClaimed, e.Owner, e.CommandID)
}

// Is makes errors.Is(err, ErrClaimed) true.
func (e *ClaimedError) Is(target error) bool { return target == ErrClaimed }

// Option configures New.
type Option func(*Reservations)

// WithClock sets the clock that stamps ClaimedAt (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(r *Reservations) {
		if now != nil {
			r.now = now
		}
	}
}

// WithRetries bounds how many times Claim and Release re-read after a concurrent
// change of the same reservation stream (default 5).
func WithRetries(n int) Option {
	return func(r *Reservations) {
		if n >= 0 {
			r.retries = n
		}
	}
}

// Reservations claims and releases keys in an event store. It is safe for
// concurrent use.
type Reservations struct {
	store   eventstore.Store
	now     func() time.Time
	retries int
}

// New returns Reservations over store.
func New(store eventstore.Store, opts ...Option) *Reservations {
	r := &Reservations{store: store, now: time.Now, retries: 5}
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	return r
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
// c.CommandID. When the same owner already holds the key (its own retry after a
// crash, or a later command of the same owner) it succeeds without writing and
// returns the claim as it was made, naming the command that made it. Another
// owner's claim fails with *ClaimedError.
func (r *Reservations) Claim(ctx context.Context, scope, key string, c Claimant) (Claim, error) {
	if scope == "" || key == "" || c.Owner == "" {
		return Claim{}, fmt.Errorf("claim %s key %q for %q: %w", scope, key, c.Owner, ErrInvalidKey)
	}
	stream := StreamFor(scope, key)
	var last error
	for attempt := 0; attempt <= r.retries; attempt++ {
		cur, rev, exists, err := r.current(ctx, stream)
		if err != nil {
			return Claim{}, fmt.Errorf("claim %s key %q: %w", scope, key, err)
		}
		if cur != nil {
			if cur.Owner != c.Owner {
				return Claim{}, &ClaimedError{Scope: scope, Key: key, Owner: cur.Owner, CommandID: cur.CommandID}
			}
			// The owner's retry, or another command of the same owner: its claim
			// stands as it was made (CommandID names the command that made it).
			return *cur, nil
		}
		claim := Claim{Scope: scope, Key: key, Owner: c.Owner, CommandID: c.CommandID, OwnerStream: c.OwnerStream,
			ClaimedAt: r.now().UTC(), Stream: stream}
		expected := eventstore.NoStream
		next := uint64(0)
		if exists {
			expected, next = eventstore.Exact(rev), rev+1
		}
		data, err := json.Marshal(claim)
		if err != nil {
			return Claim{}, fmt.Errorf("claim %s key %q: %w", scope, key, err)
		}
		ev := eventstore.EventData{ID: eventID(stream, ClaimedEventType, c.Owner, c.CommandID, next), Type: ClaimedEventType, Data: data}
		res, err := r.store.Append(ctx, stream, expected, ev)
		if err == nil {
			claim.Revision = res.Revision
			return claim, nil
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			return Claim{}, fmt.Errorf("claim %s key %q: %w", scope, key, err)
		}
		last = err
	}
	return Claim{}, fmt.Errorf("claim %s key %q: gave up after %d conflicts: %w", scope, key, r.retries+1, last)
}

// Release frees key in scope if owner holds it. Releasing a free key is a no-op;
// releasing another owner's key fails with ErrNotOwner.
func (r *Reservations) Release(ctx context.Context, scope, key, owner string) error {
	if scope == "" || key == "" || owner == "" {
		return fmt.Errorf("release %s key %q for %q: %w", scope, key, owner, ErrInvalidKey)
	}
	return r.release(ctx, StreamFor(scope, key), owner, "", fmt.Sprintf("release %s key %q", scope, key))
}

func (r *Reservations) release(ctx context.Context, stream, owner, commandID, what string) error {
	var last error
	for attempt := 0; attempt <= r.retries; attempt++ {
		cur, rev, _, err := r.current(ctx, stream)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if cur == nil {
			return nil
		}
		if cur.Owner != owner || (commandID != "" && cur.CommandID != commandID) {
			return fmt.Errorf("%s: %w: held by %s (command %q)", what, ErrNotOwner, cur.Owner, cur.CommandID)
		}
		data, _ := json.Marshal(map[string]string{"owner": owner, "command_id": cur.CommandID})
		ev := eventstore.EventData{ID: eventID(stream, ReleasedEventType, owner, cur.CommandID, rev+1), Type: ReleasedEventType, Data: data}
		_, err = r.store.Append(ctx, stream, eventstore.Exact(rev), ev)
		if err == nil {
			return nil
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			return fmt.Errorf("%s: %w", what, err)
		}
		last = err
	}
	return fmt.Errorf("%s: gave up after %d conflicts: %w", what, r.retries+1, last)
}

// Lookup returns the current claim of key in scope; ok is false when it is free.
func (r *Reservations) Lookup(ctx context.Context, scope, key string) (c Claim, ok bool, err error) {
	cur, _, _, err := r.current(ctx, StreamFor(scope, key))
	if err != nil {
		return Claim{}, false, fmt.Errorf("look up %s key %q: %w", scope, key, err)
	}
	if cur == nil {
		return Claim{}, false, nil
	}
	return *cur, true, nil
}

// Recorded reports whether a claim's command was recorded by its owner.
type Recorded func(ctx context.Context, c Claim) (bool, error)

// Reconcile scans every reservation stream and releases each claim made before
// olderThan ago whose command recorded says was never recorded (the owner crashed
// between claim and write and nobody retried). It returns the claims it released.
// Claims younger than olderThan are left alone: their command may still be in
// flight. It reads the whole global log, filtered to reservation streams: run it
// as an occasional operation, not per command.
func (r *Reservations) Reconcile(ctx context.Context, olderThan time.Duration, recorded Recorded) ([]Claim, error) {
	if recorded == nil {
		return nil, fmt.Errorf("reconcile reservations: %w: nil Recorded", ErrInvalidKey)
	}
	cutoff := r.now().Add(-olderThan)
	open := map[string]*Claim{}
	var order []string
	for ev, err := range r.store.ReadAll(ctx, eventstore.Start, eventstore.StreamPrefix(Category+"-")) {
		if err != nil {
			return nil, fmt.Errorf("reconcile reservations: %w", err)
		}
		switch ev.Type {
		case ClaimedEventType:
			var c Claim
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				return nil, fmt.Errorf("reconcile reservations: %s@%d: %w: %w", ev.Stream, ev.Revision, eventstore.ErrCorrupt, err)
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
	var freed []Claim
	for _, s := range order {
		c := open[s]
		if c == nil || c.ClaimedAt.After(cutoff) {
			continue
		}
		ok, err := recorded(ctx, *c)
		if err != nil {
			return freed, fmt.Errorf("reconcile reservation %s: %w", s, err)
		}
		if ok {
			continue
		}
		if err := r.release(ctx, s, c.Owner, c.CommandID, "reconcile reservation "+s); err != nil {
			if errors.Is(err, ErrNotOwner) {
				continue // re-claimed meanwhile
			}
			return freed, err
		}
		freed = append(freed, *c)
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
		if ev.Type != ClaimedEventType {
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
