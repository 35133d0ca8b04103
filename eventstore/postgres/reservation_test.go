package postgres_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/reservation"
)

// Reservations (G5) are streams in the event store, claimed with NoStream: on
// PostgreSQL they rest on the append function's revision check. The reservation
// and command packages run their tests on PostgreSQL too (one store each); this
// one races replicas on stores of their own.

// TestClaimRace: eight owners on four stores claim one key at once: one wins,
// the others get reservation.ErrClaimed.
func TestClaimRace(t *testing.T) {
	schema := pgtest.Schema(t)
	var rs []*reservation.Reservations
	for range 4 {
		r, err := reservation.New(pgtest.OpenSchema(t, schema))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	for round := range 5 {
		key := fmt.Sprintf("SKU-%d", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				_, err := rs[i%len(rs)].Claim(t.Context(), "sku", key, reservation.Claimant{Owner: fmt.Sprint("owner-", i), CommandID: "c"})
				if err == nil {
					wins.Add(1)
					return
				}
				require.ErrorIs(t, err, reservation.ErrClaimed)
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "round %d: one owner wins", round)
	}
}
