package reservation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/reservation"
)

// TestClaimsAndStale: Claims lists the held keys (not the released ones) in the
// order first claimed, with the commands that joined; Stale names the claims
// Reconcile would release, old enough and with no recorded command, and changes
// nothing.
func TestClaimsAndStale(t *testing.T) {
	eachBackend(t, func(t *testing.T, s eventstore.Store) {
		ctx := t.Context()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		r, err := reservation.New(s, reservation.WithClock(func() time.Time { return now }))
		require.NoError(t, err)
		claim := func(key, owner, cmd string) {
			_, err := r.Claim(ctx, "invoice.number", key, reservation.Claimant{Owner: owner, CommandID: cmd, OwnerStream: owner})
			require.NoError(t, err)
		}
		claim("N-1", "invoice-a", "c1")
		claim("N-2", "invoice-b", "c2")
		claim("N-2", "invoice-b", "c3") // joins
		claim("N-3", "invoice-c", "c4")
		require.NoError(t, r.Release(ctx, "invoice.number", "N-3", "invoice-c"))
		now = now.Add(time.Hour)
		claim("N-4", "invoice-d", "c5")

		claims, err := r.Claims(ctx)
		require.NoError(t, err)
		var keys []string
		for _, c := range claims {
			keys = append(keys, c.Key)
		}
		require.Equal(t, []string{"N-1", "N-2", "N-4"}, keys)
		require.Equal(t, []string{"c3"}, claims[1].Joined)

		recorded := func(_ context.Context, c reservation.Claim) (bool, error) { return c.CommandID == "c1", nil }
		before, err := collectAll(s)
		require.NoError(t, err)
		stale, err := r.Stale(ctx, 30*time.Minute, recorded)
		require.NoError(t, err)
		require.Len(t, stale, 1, "N-1 is recorded and N-4 too young")
		require.Equal(t, "N-2", stale[0].Key)
		after, err := collectAll(s)
		require.NoError(t, err)
		require.Equal(t, before, after, "Stale writes nothing")

		freed, err := r.Reconcile(ctx, 30*time.Minute, recorded)
		require.NoError(t, err)
		require.Len(t, freed, 1)
		require.Equal(t, "N-2", freed[0].Key)
		_, held, err := r.Lookup(ctx, "invoice.number", "N-2")
		require.NoError(t, err)
		require.False(t, held)

		_, err = r.Stale(ctx, 0, func(context.Context, reservation.Claim) (bool, error) { return false, errors.New("boom") })
		require.ErrorContains(t, err, "boom")
	})
}

// collectAll counts the events of the log.
func collectAll(s eventstore.Store) (int, error) {
	n := 0
	for _, err := range s.ReadAll(context.Background(), eventstore.Start()) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
