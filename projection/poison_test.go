package projection_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

func poisonStore(t *testing.T) (eventstore.Store, []uuid.UUID) {
	t.Helper()
	store := newStore(t)
	ids := make([]uuid.UUID, 10)
	for i := range ids {
		ids[i] = uuid.New()
		amount := int64(1)
		if i == 4 {
			amount = -999 // the poison
		}
		if _, err := store.Append(context.Background(), "acct-1", eventstore.Any(), amountEvent(ids[i], amount)); err != nil {
			t.Fatal(err)
		}
	}
	return store, ids
}

// failing returns a ledger that rejects negative amounts while *broken is true.
func failing(broken *bool, policy projection.PoisonPolicy) projection.Projection[Tx] {
	p := ledger(1)
	inner := p.Handle
	p.Poison = policy
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		if *broken && string(e.Data) == `{"Amount":-999}` {
			return errors.New("negative amounts are not supported")
		}
		return inner(ctx, tx, e)
	}
	return p
}

// By default a poison event stops the projection with an error naming it; nothing
// after it is applied; the events before it are.
func TestProjectionPoisonStops(t *testing.T) {
	ctx := context.Background()
	store, ids := poisonStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	broken := true
	r := newRunner(t, store, tg, opts(projection.WithRetries(2)), failing(&broken, projection.PoisonStop))
	err := r.CatchUp(ctx)
	var herr *projection.HandlerError
	if !errors.Is(err, projection.ErrHandlerFailed) || !errors.As(err, &herr) {
		t.Fatalf("CatchUp = %v, want a HandlerError", err)
	}
	if herr.EventID != ids[4].String() || herr.Stream != "acct-1" || herr.Revision != 4 || herr.Attempts != 3 {
		t.Fatalf("HandlerError %+v does not name the poison event", herr)
	}
	if got := balances(t, db)["acct-1"]; got != [2]int64{4, 4} {
		t.Fatalf("balance %v, want the 4 events before the poison", got)
	}
	st := statsOf(r, "ledger")
	if st.Retries != 2 || st.Err == nil || st.State != projection.Failed {
		t.Fatalf("stats %+v", st)
	}
	// Fixed handler: a restart resumes at the poison event.
	broken = false
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := balances(t, db)["acct-1"]; got != [2]int64{10, 9 - 999} {
		t.Fatalf("balance %v after the fix", got)
	}
}

// With PoisonPark the event is parked and the projection goes on; parked events
// are listed and re-run once the handler is fixed.
func TestProjectionPoisonParksAndReruns(t *testing.T) {
	ctx := context.Background()
	store, ids := poisonStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	broken := true
	r := newRunner(t, store, tg, opts(projection.WithRetries(1)), failing(&broken, projection.PoisonPark))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := balances(t, db)["acct-1"]; got != [2]int64{9, 9} {
		t.Fatalf("balance %v, want all but the parked event", got)
	}
	parked, err := r.Parked(ctx, "ledger")
	if err != nil || len(parked) != 1 || parked[0].Event.ID != ids[4] || parked[0].Attempts != 2 || parked[0].Err == "" ||
		parked[0].Generation != 1 || parked[0].Event.Stream != "acct-1" || parked[0].Event.Revision != 4 ||
		string(parked[0].Event.Data) != `{"Amount":-999}` || parked[0].ParkedAt.IsZero() || parked[0].Event.RecordedAt.IsZero() {
		t.Fatalf("Parked = %+v, %v", parked, err)
	}
	if st := statsOf(r, "ledger"); st.Parked != 1 || st.Applied != 9 {
		t.Fatalf("stats %+v", st)
	}
	if s := statusOf(t, r, "ledger"); s.Parked != 1 {
		t.Fatalf("status %+v, want 1 parked", s)
	}
	// Still broken: the re-run fails and the event stays parked.
	if err := r.RetryParked(ctx, "ledger", ids[4]); !errors.Is(err, projection.ErrHandlerFailed) {
		t.Fatalf("RetryParked while broken = %v", err)
	}
	if parked, _ := r.Parked(ctx, "ledger"); len(parked) != 1 || parked[0].Attempts != 3 {
		t.Fatalf("after a failed re-run: %+v, want the event still parked with 3 attempts", parked)
	}
	broken = false
	if err := r.RetryParked(ctx, "ledger", ids[4]); err != nil {
		t.Fatal(err)
	}
	if err := r.RetryParked(ctx, "ledger", ids[4]); !errors.Is(err, projection.ErrParkedNotFound) {
		t.Fatalf("second RetryParked = %v, want ErrParkedNotFound", err)
	}
	if got := balances(t, db)["acct-1"]; got != [2]int64{10, 9 - 999} {
		t.Fatalf("balance %v after the re-run", got)
	}
	if parked, _ := r.Parked(ctx, "ledger"); len(parked) != 0 {
		t.Fatalf("still parked: %+v", parked)
	}
	// A replay of the stream does not apply it again.
	if res, err := r.ReplayStream(ctx, "ledger", "acct-1"); err != nil || res.Applied != 0 {
		t.Fatalf("replay after re-run: %+v %v", res, err)
	}
}

// SkipParked removes a parked event without applying it: the read model stays
// without it, and a replay does not apply it either (its stream's guard is past it).
func TestProjectionSkipParked(t *testing.T) {
	ctx := context.Background()
	store, ids := poisonStore(t)
	tg := openTarget(t, "rm.db")
	broken := true
	r := newRunner(t, store, tg, opts(projection.WithRetries(0)), failing(&broken, projection.PoisonPark))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.SkipParked(ctx, "ledger", uuid.New()); !errors.Is(err, projection.ErrParkedNotFound) {
		t.Fatalf("SkipParked of an event not parked = %v", err)
	}
	if err := r.SkipParked(ctx, "ledger", ids[4]); err != nil {
		t.Fatal(err)
	}
	if parked, err := r.Parked(ctx, "ledger"); err != nil || len(parked) != 0 {
		t.Fatalf("Parked after skip = %+v, %v", parked, err)
	}
	broken = false
	if res, err := r.ReplayStream(ctx, "ledger", "acct-1"); err != nil || res.Applied != 0 || res.Skipped != 10 {
		t.Fatalf("replay after skip: %+v %v", res, err)
	}
	if got := balances(t, tg.DB())["acct-1"]; got != [2]int64{9, 9} {
		t.Fatalf("balance %v, want all but the skipped event", got)
	}
	if err := r.RetryParked(ctx, "nope", ids[4]); !errors.Is(err, projection.ErrUnknownProjection) {
		t.Fatalf("RetryParked of an unknown projection = %v", err)
	}
}

// A reactor parks too; RetryParked calls it again with the event's idempotency key
// and removes the event once it succeeded.
func TestReactorPoisonParksAndReruns(t *testing.T) {
	ctx := context.Background()
	store, ids := poisonStore(t)
	tg := openTarget(t, "rm.db")
	broken := true
	var keys []string
	re := projection.Reactor{Name: "mailer", Poison: projection.PoisonPark, Handle: func(_ context.Context, e projection.ReactorEvent) error {
		if broken && string(e.Data) == `{"Amount":-999}` {
			return errors.New("mail server says no")
		}
		keys = append(keys, e.IdempotencyKey)
		return nil
	}}
	r := newRunner(t, store, tg, opts(projection.WithRetries(1)))
	if err := r.AddReactor(re); err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	parked, err := r.Parked(ctx, "mailer")
	if err != nil || len(parked) != 1 || parked[0].Event.ID != ids[4] || parked[0].Attempts != 2 {
		t.Fatalf("Parked = %+v, %v", parked, err)
	}
	if len(keys) != 9 {
		t.Fatalf("reactor ran for %d events, want 9", len(keys))
	}
	broken = false
	if err := r.RetryParked(ctx, "mailer", ids[4]); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 10 || keys[9] != ids[4].String() {
		t.Fatalf("keys %v, want the parked event's id last", keys)
	}
	if parked, _ := r.Parked(ctx, "mailer"); len(parked) != 0 {
		t.Fatalf("still parked: %+v", parked)
	}
}

// A handler error that matches ErrTargetUnavailable (a statement of the handler's
// lost its connection) is the target's failure, not the event's: the batch is
// retried, and with PoisonPark the event is never parked for it. Once the target
// is back, every event is applied once.
func TestTargetFailureInHandlerIsNotPoison(t *testing.T) {
	ctx := context.Background()
	store, _ := poisonStore(t)
	tg := openTarget(t, "rm.db")
	failures := 3
	p := ledger(1)
	inner := p.Handle
	p.Poison = projection.PoisonPark
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		if e.Revision == 4 && failures > 0 {
			failures--
			return fmt.Errorf("insert: %w: connection reset", projection.ErrTargetUnavailable)
		}
		return inner(ctx, tx, e)
	}
	r := newRunner(t, store, tg, opts(projection.WithRetries(1)), p)
	err := r.CatchUp(ctx)
	if !errors.Is(err, projection.ErrTargetUnavailable) {
		t.Fatalf("CatchUp with the target failing past the retries = %v, want ErrTargetUnavailable", err)
	}
	if parked, err := r.Parked(ctx, "ledger"); err != nil || len(parked) != 0 {
		t.Fatalf("parked %v, %v: a target failure parked the event", parked, err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if parked, _ := r.Parked(ctx, "ledger"); len(parked) != 0 || failures != 0 {
		t.Fatalf("parked %v, %d failures left", parked, failures)
	}
	if got := balances(t, tg.DB())["acct-1"]; got != [2]int64{10, 9 - 999} {
		t.Fatalf("balance %v, want every event applied once", got)
	}
}
