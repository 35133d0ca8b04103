package main

import (
	"context"
	gosql "database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hallgren/eventsourcing"
	"github.com/hallgren/eventsourcing/aggregate"
	hgsql "github.com/hallgren/eventsourcing/eventstore/sql"
)

// hallgrenWorkloads measure github.com/hallgren/eventsourcing v0.9.1 with its SQL
// event store (eventstore/sql v0.7.0) on SQLite with idem's pragmas, opened three
// ways (hallgrenModes). It has no command dedupe: a redelivered command appends
// again.
var hallgrenModes = map[string]string{
	"begin":        "NewSQLite with go-sqlite3's plain BEGIN, as users usually open it",
	"immediate":    "NewSQLite with _txlock=immediate",
	"singlewriter": "NewSQLiteSingelWriter (a mutex around Save, its README's example) with plain BEGIN",
}

func hallgrenWorkloads(cfg Config) []Workload {
	var ws []Workload
	for _, mode := range []string{"begin", "immediate", "singlewriter"} {
		ws = append(ws, Workload{Key: "hallgren/P1/" + mode, Unit: "cmd/s",
			Note: "aggregate.Load, TrackChange, aggregate.Save; 1 caller (FULL); no dedupe; " + hallgrenModes[mode],
			Run: func(ctx context.Context, env *Env) (Sample, error) {
				return hallgrenCommands(ctx, env, mode, 1)
			}})
	}
	for _, mode := range []string{"begin", "singlewriter"} {
		ws = append(ws, Workload{Key: "hallgren/P2/" + mode + "/c64", Unit: "cmd/s",
			Note: "64 callers, distinct aggregates; " + hallgrenModes[mode] + "; retries are \"database is locked\" and version conflicts",
			Run: func(ctx context.Context, env *Env) (Sample, error) {
				return hallgrenCommands(ctx, env, mode, 64)
			}})
	}
	for _, c := range cfg.Concurrency {
		ws = append(ws, Workload{Key: fmt.Sprintf("hallgren/P2/immediate/c%d", c), Unit: "cmd/s",
			Note: "distinct aggregates, _txlock=immediate (FULL)",
			Run: func(ctx context.Context, env *Env) (Sample, error) {
				return hallgrenCommands(ctx, env, "immediate", c)
			}})
	}
	return ws
}

// hgAccount is the benchmark aggregate in hallgren's model.
type hgAccount struct {
	aggregate.Root
	Balance int
}

// hgDeposited is its one event.
type hgDeposited struct {
	Amount    int
	Reference string
}

// Transition applies an event.
func (a *hgAccount) Transition(e eventsourcing.Event) {
	if d, ok := e.Data().(*hgDeposited); ok {
		a.Balance += d.Amount
	}
}

// Register names the aggregate's events.
func (a *hgAccount) Register(r aggregate.RegisterFunc) { r(&hgDeposited{}) }

var hgRegister sync.Once

// hallgrenCommands runs commands from callers goroutines, each on an aggregate of
// its own, on a fresh database holding Aggregates accounts of one event each.
// A command that fails with "database is locked" or a version conflict is
// retried (reload, decide, save), as a user of the library would, and counted.
func hallgrenCommands(ctx context.Context, env *Env, mode string, callers int) (Sample, error) {
	hgRegister.Do(func() { aggregate.Register(&hgAccount{}) })
	lock := "" // go-sqlite3's default: plain (deferred) BEGIN
	if mode == "immediate" {
		lock = "immediate"
	}
	db, err := gosql.Open("sqlite3", sqliteDSN(env.freshPath("hallgren"), SyncFull, lock))
	if err != nil {
		return Sample{}, err
	}
	defer db.Close()
	open := hgsql.NewSQLite
	if mode == "singlewriter" {
		open = hgsql.NewSQLiteSingelWriter
	}
	es, err := open(db)
	if err != nil {
		return Sample{}, fmt.Errorf("hallgren: create SQLite store: %w", err)
	}
	for i := range env.Aggregates {
		a := &hgAccount{}
		if err := a.SetID(streamName(i)); err != nil {
			return Sample{}, err
		}
		aggregate.TrackChange(a, &hgDeposited{Amount: 1, Reference: "open"})
		if err := aggregate.Save(es, a); err != nil {
			return Sample{}, fmt.Errorf("hallgren: seed %s: %w", streamName(i), err)
		}
	}
	return runCommands(env, callers, newPicker("distinct", callers, env.Aggregates), func(_, agg, i int) (int, error) {
		for retries := 0; retries < 10_000; retries++ {
			a := &hgAccount{}
			err := aggregate.Load(ctx, es, streamName(agg), a)
			if err == nil {
				aggregate.TrackChange(a, &hgDeposited{Amount: 100, Reference: fmt.Sprint("ref-", i)})
				err = aggregate.Save(es, a)
			}
			if err == nil {
				return retries, nil
			}
			if !hallgrenRetryable(err) {
				return retries, fmt.Errorf("hallgren: command on %s: %w", streamName(agg), err)
			}
		}
		return 10_000, fmt.Errorf("hallgren: command on %s: gave up after 10000 retries", streamName(agg))
	})
}

// hallgrenRetryable reports whether a caller would retry err: SQLite's busy
// errors, which the store returns as text, and version conflicts.
func hallgrenRetryable(err error) bool {
	if errors.Is(err, eventsourcing.ErrConcurrency) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "busy")
}
