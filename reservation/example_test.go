package reservation_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/reservation"
)

// Two users want one e-mail address: the first claim wins, the second is told who
// holds it; the holder's own retry goes on.
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	r, err := reservation.New(store)
	if err != nil {
		fmt.Println(err)
		return
	}

	alice := reservation.Claimant{Owner: "user-alice", CommandID: "register-1"}
	_, err = r.Claim(ctx, "user", "email:a@example.com", alice)
	fmt.Println(err)
	_, err = r.Claim(ctx, "user", "email:a@example.com", alice) // a retry
	fmt.Println(err)
	_, err = r.Claim(ctx, "user", "email:a@example.com", reservation.Claimant{Owner: "user-bob", CommandID: "register-2"})
	var claimed *reservation.ClaimedError
	fmt.Println(errors.As(err, &claimed), claimed.Owner)
	// Output:
	// <nil>
	// <nil>
	// true user-alice
}
