package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// ESBS: writers and catch-up subscribers at once, the shape of an event store
// benchmark suite: the writers' latencies and the subscribers' end-to-end lag.
const (
	esbsWriters     = 64
	esbsSubscribers = 4
	// esbsLagKey is the side figure of the subscribers' lag.
	esbsLagKey = "idem/ESBS/lag"
)

func esbsWorkloads() []Workload {
	return []Workload{{Key: "idem/ESBS/writes", Unit: "cmd/s",
		Note: fmt.Sprintf("%d writers (new commands, distinct aggregates, default handler, FULL) while %d subscribers read the log from its start and then live",
			esbsWriters, esbsSubscribers),
		Side: []string{esbsLagKey}, Run: idemESBS}}
}

// lagReference marks a command's payload with the time it was sent, so a
// subscriber can tell the event's end-to-end lag.
func lagReference(t time.Time) string { return "t" + strconv.FormatInt(t.UnixNano(), 10) }

// lagOf is the time since the reference of a delivered event was sent; ok is
// false for events the timed part did not write.
func lagOf(data []byte, now time.Time) (time.Duration, bool) {
	var e deposited
	if json.Unmarshal(data, &e) != nil || !strings.HasPrefix(e.Reference, "t") {
		return 0, false
	}
	sent, err := strconv.ParseInt(e.Reference[1:], 10, 64)
	if err != nil {
		return 0, false
	}
	return now.Sub(time.Unix(0, sent)), true
}

// idemESBS runs the writers for env.Duration while the subscribers follow the
// log, then waits for every subscriber to reach the log's head.
func idemESBS(ctx context.Context, env *Env) (Sample, error) {
	st, err := openIdemSQLite(ctx, env, "idem-esbs", SyncFull)
	if err != nil {
		return Sample{}, err
	}
	defer st.Close()
	h, err := newAccounts(ctx, env, st, 1)
	if err != nil {
		return Sample{}, err
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	subs := make([]*esbsSubscriber, esbsSubscribers)
	var wg sync.WaitGroup
	for i := range subs {
		subs[i] = &esbsSubscriber{}
		wg.Go(func() { subs[i].follow(subCtx, st) })
	}
	pick := newPicker("distinct", esbsWriters, env.Aggregates)
	s, err := runCommands(env, esbsWriters, pick, func(w, agg, i int) (int, error) {
		c := command.Command[deposit]{ID: fmt.Sprintf("esbs-%d-%d", w, i), AggregateID: accountID(agg),
			Payload: deposit{Amount: 100, Reference: lagReference(time.Now())}}
		_, err := h.Handle(ctx, c)
		return 0, err
	})
	if err != nil {
		return s, err
	}
	head, err := st.Head(ctx)
	if err != nil {
		return s, fmt.Errorf("read head: %w", err)
	}
	lag, err := drain(subs, head, 30*time.Second)
	cancel()
	wg.Wait()
	if err != nil {
		return s, err
	}
	lag.Elapsed = s.Elapsed
	s.Side = map[string]SideFigure{esbsLagKey: {Unit: "events/s", Sample: lag,
		Note: fmt.Sprintf("end-to-end lag, from the command's Handle call to the delivery to each of %d catch-up subscribers (SubscribeAll from the start); rate = deliveries per second", esbsSubscribers)}}
	return s, nil
}

// esbsSubscriber follows the log and records each timed event's lag.
type esbsSubscriber struct {
	mu   sync.Mutex
	at   eventstore.Position
	lags []time.Duration
	err  error
}

func (s *esbsSubscriber) follow(ctx context.Context, store eventstore.Store) {
	for m, err := range store.SubscribeAll(ctx, eventstore.Start()) {
		now := time.Now()
		s.mu.Lock()
		if err != nil {
			s.err = err
			s.mu.Unlock()
			return
		}
		if !m.CaughtUp {
			if lag, ok := lagOf(m.Event.Data, now); ok {
				s.lags = append(s.lags, lag)
			}
		}
		s.at = m.Position
		s.mu.Unlock()
	}
}

// drain waits until every subscriber delivered the log up to head, and returns
// their lags as one sample.
func drain(subs []*esbsSubscriber, head eventstore.Position, limit time.Duration) (Sample, error) {
	deadline := time.Now().Add(limit)
	for _, s := range subs {
		for {
			s.mu.Lock()
			at, err := s.at, s.err
			s.mu.Unlock()
			if err != nil {
				return Sample{}, fmt.Errorf("subscriber: %w", err)
			}
			if at.Commit >= head.Commit {
				break
			}
			if time.Now().After(deadline) {
				return Sample{}, errors.New("subscribers did not reach the head in time")
			}
			time.Sleep(time.Millisecond)
		}
	}
	var lag Sample
	for _, s := range subs {
		lag.Latencies = append(lag.Latencies, s.lags...)
		lag.Ops += len(s.lags)
	}
	return lag, nil
}
