package main

import (
	"context"
	"fmt"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// shapeWorkloads are the figures of a command's cost against the aggregate's
// shape and the process's state: P3 cold (a duplicate whose aggregate is not in
// memory), P9 (a long aggregate against a short one, warm and fresh).
func shapeWorkloads() []Workload {
	ws := []Workload{{Key: "idem/P3/cold", Unit: "cmd/s",
		Note: "redelivered commands (10 processed per aggregate) whose aggregate is not in memory, as after a restart (WithCache(0)): found by event id, no stream read",
		Run: func(ctx context.Context, env *Env) (Sample, error) {
			return idemDuplicates(ctx, env, command.WithCache(0))
		}}}
	for _, fresh := range []bool{false, true} {
		for _, n := range []int{p9Short, p9Long} {
			ws = append(ws, Workload{Key: p9Key(fresh, n), Unit: "cmd/s", Note: p9Note(fresh, n),
				Run: func(ctx context.Context, env *Env) (Sample, error) { return idemLongAggregate(ctx, env, n, fresh) }})
		}
	}
	return ws
}

// The P9 aggregates' lengths, and how many aggregates of each the fixture holds.
const (
	p9Short = 10
	p9Long  = 10_000
)

func p9Aggregates(n int) int {
	if n == p9Long {
		return 4
	}
	return 1000
}

func p9Key(fresh bool, n int) string {
	state := "warm"
	if fresh {
		state = "fresh"
	}
	return fmt.Sprintf("idem/P9/%s/%d", state, n)
}

func p9Note(fresh bool, n int) string {
	how := "default handler, every aggregate handled once before the timed part"
	if fresh {
		how = "default handler but WithCache(0): every command finds its aggregate not in memory, as the first after a restart does (snapshot, then the events after it)"
	}
	return fmt.Sprintf("new commands round robin over %d aggregates of %d events (FULL; automatic snapshots every 100); %s", p9Aggregates(n), n, how)
}

// idemLongAggregate handles new commands on aggregates of n events, from a
// fixture shared by the rounds (each round adds its commands to it).
func idemLongAggregate(ctx context.Context, env *Env, n int, fresh bool) (Sample, error) {
	aggs := p9Aggregates(n)
	if env.Quick {
		aggs = min(aggs, 100)
	}
	small := *env
	small.Aggregates = aggs
	path, err := env.fixture(ctx, fmt.Sprintf("idem-p9-%d", n), func(ctx context.Context, path string) error {
		st, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.Normal))
		if err != nil {
			return err
		}
		defer st.Close()
		_, err = newAccounts(ctx, &small, st, n)
		return err
	})
	if err != nil {
		return Sample{}, err
	}
	st, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.Full))
	if err != nil {
		return Sample{}, fmt.Errorf("open p9 fixture: %w", err)
	}
	defer st.Close()
	var opts []command.Option
	if fresh {
		opts = append(opts, command.WithCache(0))
	}
	h, err := newAccounts(ctx, &small, st, 0, opts...)
	if err != nil {
		return Sample{}, err
	}
	round := dbCounter.Add(1) // command ids unique across rounds
	for a := range aggs {
		if _, err := handleNew(ctx, h, -int(round), a, 0); err != nil {
			return Sample{}, err
		}
	}
	return runCommands(env, 1, newPicker("distinct", 1, aggs), func(_, agg, i int) (int, error) {
		return handleNew(ctx, h, int(round), agg, i)
	})
}
