package reservation_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/eventstore/sqlite"
	"github.com/idemkit/idem/reservation"
)

func eachBackend(t *testing.T, f func(t *testing.T, s eventstore.Store)) {
	t.Run("memory", func(t *testing.T) {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		f(t, s)
	})
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "r.db"), sqlite.WithSynchronous(sqlite.Normal))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		f(t, s)
	})
	// PostgreSQL when a server is configured (always under CI: pgtest fails there
	// without one).
	if os.Getenv(pgtest.EnvURL) != "" || os.Getenv("CI") != "" {
		t.Run("postgres", func(t *testing.T) { f(t, pgtest.Open(t)) })
	}
}

func TestClaimReleaseReclaim(t *testing.T) {
	eachBackend(t, func(t *testing.T, s eventstore.Store) {
		ctx := t.Context()
		r, err := reservation.New(s)
		if err != nil {
			t.Fatal(err)
		}
		alice := reservation.Claimant{Owner: "user-a", CommandID: "c1", OwnerStream: "user-a"}
		bob := reservation.Claimant{Owner: "user-b", CommandID: "c2", OwnerStream: "user-b"}

		c, err := r.Claim(ctx, "user", "email:x", alice)
		require.NoError(t, err)
		require.Equal(t, "user-a", c.Owner)
		again, err := r.Claim(ctx, "user", "email:x", alice)
		require.NoError(t, err, "the owner's retry sees its own claim")
		require.Equal(t, c.Revision, again.Revision)

		_, err = r.Claim(ctx, "user", "email:x", bob)
		require.ErrorIs(t, err, reservation.ErrClaimed)
		var ce *reservation.ClaimedError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "user-a", ce.Owner)
		require.Equal(t, "c1", ce.CommandID)

		require.ErrorIs(t, r.Release(ctx, "user", "email:x", "user-b"), reservation.ErrNotOwner)
		require.NoError(t, r.Release(ctx, "user", "email:x", "user-a"))
		require.NoError(t, r.Release(ctx, "user", "email:x", "user-a"), "releasing a free key is a no-op")
		_, ok, err := r.Lookup(ctx, "user", "email:x")
		require.NoError(t, err)
		require.False(t, ok)

		c, err = r.Claim(ctx, "user", "email:x", bob)
		require.NoError(t, err, "re-claim after release")
		require.Equal(t, uint64(2), c.Revision)

		_, err = r.Claim(ctx, "", "k", bob)
		require.ErrorIs(t, err, reservation.ErrInvalidKey)
	})
}

func TestClaimRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, s eventstore.Store) {
		r, err := reservation.New(s)
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := r.Claim(t.Context(), "sku", "SKU-1", reservation.Claimant{Owner: fmt.Sprint("owner-", i), CommandID: "c"})
				if err == nil {
					wins.Add(1)
				} else {
					require.ErrorIs(t, err, reservation.ErrClaimed)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load())
	})
}

// lostAck commits and then reports a failure once.
type lostAck struct {
	eventstore.Store
	lose atomic.Bool
}

func (l *lostAck) Append(ctx context.Context, stream string, e eventstore.ExpectedRevision, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := l.Store.Append(ctx, stream, e, evs...)
	if err == nil && l.lose.CompareAndSwap(true, false) {
		return eventstore.AppendResult{}, eventstore.ErrUnavailable
	}
	return res, err
}

func TestClaimRetriedAfterLostAck(t *testing.T) {
	eachBackend(t, func(t *testing.T, s eventstore.Store) {
		ls := &lostAck{Store: s}
		r, err := reservation.New(ls)
		if err != nil {
			t.Fatal(err)
		}
		ls.lose.Store(true)
		c := reservation.Claimant{Owner: "o", CommandID: "c"}
		_, err = r.Claim(t.Context(), "sc", "k", c)
		require.ErrorIs(t, err, eventstore.ErrUnavailable)
		_, err = r.Claim(t.Context(), "sc", "k", c)
		require.NoError(t, err)
		n := 0
		for _, err := range s.ReadStream(t.Context(), reservation.StreamFor("sc", "k"), 0) {
			require.NoError(t, err)
			n++
		}
		require.Equal(t, 1, n)
	})
}

func TestReconcile(t *testing.T) {
	eachBackend(t, func(t *testing.T, s eventstore.Store) {
		ctx := t.Context()
		now := time.Now()
		r, err := reservation.New(s, reservation.WithClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Claim(ctx, "sc", "kept", reservation.Claimant{Owner: "o1", CommandID: "recorded"})
		require.NoError(t, err)
		_, err = r.Claim(ctx, "sc", "orphan", reservation.Claimant{Owner: "o2", CommandID: "lost"})
		require.NoError(t, err)
		_, err = r.Claim(ctx, "sc", "released", reservation.Claimant{Owner: "o3", CommandID: "lost"})
		require.NoError(t, err)
		require.NoError(t, r.Release(ctx, "sc", "released", "o3"))
		now = now.Add(time.Hour)
		recorded := func(_ context.Context, c reservation.Claim) (bool, error) { return c.CommandID == "recorded", nil }
		freed, err := r.Reconcile(ctx, time.Minute, recorded)
		require.NoError(t, err)
		require.Len(t, freed, 1)
		require.Equal(t, "orphan", freed[0].Key)
		_, ok, err := r.Lookup(ctx, "sc", "kept")
		require.NoError(t, err)
		require.True(t, ok)
		_, ok, err = r.Lookup(ctx, "sc", "orphan")
		require.NoError(t, err)
		require.False(t, ok)
	})
}

func TestWithdrawLeavesAJoinedClaim(t *testing.T) {
	eachBackend(t, func(t *testing.T, s eventstore.Store) {
		ctx := t.Context()
		r, err := reservation.New(s)
		if err != nil {
			t.Fatal(err)
		}
		first := reservation.Claimant{Owner: "invoice-1", CommandID: "warehouse", OwnerStream: "invoice-1"}
		second := reservation.Claimant{Owner: "invoice-1", CommandID: "carrier", OwnerStream: "invoice-1"}

		// Unjoined: the claimant's withdrawal frees the key.
		_, err = r.Claim(ctx, "invoice", "N-1", first)
		require.NoError(t, err)
		ok, err := r.Withdraw(ctx, "invoice", "N-1", second)
		require.NoError(t, err)
		require.False(t, ok, "only the command that claimed may withdraw")
		ok, err = r.Withdraw(ctx, "invoice", "N-1", first)
		require.NoError(t, err)
		require.True(t, ok)
		_, held, err := r.Lookup(ctx, "invoice", "N-1")
		require.NoError(t, err)
		require.False(t, held)

		// Joined: another command of the owner relies on it; the withdrawal leaves it.
		_, err = r.Claim(ctx, "invoice", "N-2", first)
		require.NoError(t, err)
		joined, err := r.Claim(ctx, "invoice", "N-2", second)
		require.NoError(t, err)
		require.Equal(t, "warehouse", joined.CommandID)
		require.Equal(t, []string{"carrier"}, joined.Joined)
		again, err := r.Claim(ctx, "invoice", "N-2", second)
		require.NoError(t, err)
		require.Equal(t, joined.Revision, again.Revision, "joining twice writes once")
		ok, err = r.Withdraw(ctx, "invoice", "N-2", first)
		require.NoError(t, err)
		require.False(t, ok)
		c, held, err := r.Lookup(ctx, "invoice", "N-2")
		require.NoError(t, err)
		require.True(t, held)
		require.Equal(t, []string{"carrier"}, c.Joined)

		// Reconcile asks about every command of the claim.
		var asked []string
		freed, err := r.Reconcile(ctx, -time.Hour, func(_ context.Context, c reservation.Claim) (bool, error) {
			asked = append(asked, c.CommandID)
			asked = append(asked, c.Joined...)
			return false, nil
		})
		require.NoError(t, err)
		require.Equal(t, []string{"warehouse", "carrier"}, asked)
		require.Len(t, freed, 1)
	})
}

func TestNewRefusesBadInput(t *testing.T) {
	for name, f := range map[string]func() (*reservation.Reservations, error){
		"nil store": func() (*reservation.Reservations, error) { return reservation.New(nil) },
		"nil clock": func() (*reservation.Reservations, error) {
			return reservation.New(memory.New(), reservation.WithClock(nil))
		},
		"negative retries": func() (*reservation.Reservations, error) {
			return reservation.New(memory.New(), reservation.WithRetries(-1))
		},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := f()
			if !errors.Is(err, reservation.ErrInvalidReservations) || r != nil {
				t.Fatalf("New: %v, %v", r, err)
			}
		})
	}
}
