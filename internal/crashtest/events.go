package crashtest

import (
	"fmt"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
)

// Append is one append of a workload: events to a stream.
type Append struct {
	Stream string
	Events []eventstore.EventData
}

// Workload returns n events of type "Amount" (data {"Amount":a}) over streams
// streams named acct-000, acct-001..., in appends of 1 to 4 events, all chosen by
// a source seeded with seed: every process that asks gets the same events, ids
// included. want is the count and the total of the amounts of each stream.
func Workload(seed uint64, n, streams int) (appends []Append, want map[string][2]int64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	want = map[string][2]int64{}
	for i := 0; i < n; {
		s := fmt.Sprintf("acct-%03d", rng.IntN(streams))
		k := min(1+rng.IntN(4), n-i)
		evs := make([]eventstore.EventData, k)
		for j := range evs {
			amt := int64(rng.IntN(1000) - 300)
			var id uuid.UUID
			for b := range id {
				id[b] = byte(rng.Uint32())
			}
			id[6] = id[6]&0x0f | 0x40 // a version 4, variant 1 UUID
			id[8] = id[8]&0x3f | 0x80
			evs[j] = eventstore.EventData{ID: id, Type: "Amount", Data: fmt.Appendf(nil, `{"Amount":%d}`, amt)}
			w := want[s]
			want[s] = [2]int64{w[0] + 1, w[1] + amt}
		}
		appends = append(appends, Append{Stream: s, Events: evs})
		i += k
	}
	return appends, want
}
