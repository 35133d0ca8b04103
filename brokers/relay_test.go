package brokers_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/internal/brokertest"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// publisher is a broker that fails its first calls and dedupes on the id.
type publisher struct {
	mu   sync.Mutex
	fail int
	ids  map[string]brokers.Message
}

func (p *publisher) Publish(_ context.Context, id string, m brokers.Message) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return false, errors.New("no ack")
	}
	_, dup := p.ids[id]
	p.ids[id] = m
	return dup, nil
}

// The relay publishes each event under its id, retries until acknowledged, and
// a second publication of an event carries the same id.
func TestRelayPublishesUnderTheEventID(t *testing.T) {
	ctx := context.Background()
	env := brokertest.NewEnv(t)
	if _, err := env.Handler.Handle(ctx, command.Command[brokertest.Command]{ID: "c-1", AggregateID: "a", Payload: brokertest.Deposit{Amount: 3},
		CorrelationID: "corr-1"}); err != nil {
		t.Fatal(err)
	}
	var events []eventstore.RecordedEvent
	for e, err := range env.Store.ReadAll(ctx, eventstore.Start()) {
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	pub := &publisher{fail: 2, ids: map[string]brokers.Message{}}
	r, err := brokers.NewRelay(pub, "events", brokers.WithRelayBackoff(time.Millisecond, 2*time.Millisecond), brokers.WithRelayLogger(brokertest.Quiet()))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.Publish(ctx, events[0]); err != nil {
			t.Fatal(err)
		}
	}
	m := pub.ids[events[0].ID.String()]
	key, _ := m.Header(brokers.HeaderIdempotencyKey)
	corr, _ := m.Header(brokers.HeaderCorrelationID)
	if len(pub.ids) != 1 || key != events[0].ID.String() || m.Key != events[0].Stream || corr != "corr-1" || m.Topic != "events" {
		t.Fatalf("published %+v", pub.ids)
	}
	if st := r.Stats(); st.Published != 2 || st.BrokerDuplicates != 1 || st.Retries != 2 {
		t.Fatalf("stats %+v", st)
	}
	// A broker that never answers: Publish ends with the context, so the reactor's
	// checkpoint does not move.
	pub.fail = 1 << 30
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := r.Publish(cctx, events[0]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish = %v", err)
	}
}
