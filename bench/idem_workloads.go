package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/command/sqlitesnap"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// idemWorkloads are idem's figures: the command handler on the SQLite backend
// (P1-P3, P5), projections (P4, P7, in idem_projection.go).
func idemWorkloads(cfg Config) []Workload {
	var ws []Workload
	for _, s := range []Synchronous{SyncFull, SyncNormal} {
		ws = append(ws, Workload{Key: "idem/P1/" + string(s), Unit: "cmd/s",
			Note: "Handle: dedupe, decide, append; 1 caller, default handler (its aggregate cache holds the 1000 aggregates)",
			Run: func(ctx context.Context, env *Env) (Sample, error) {
				return idemCommands(ctx, env, s, "distinct", 1)
			}})
	}
	ws = append(ws, Workload{Key: "idem/P1nocache/FULL", Unit: "cmd/s",
		Note: "as P1 with WithCache(0): every command loads its aggregate",
		Run: func(ctx context.Context, env *Env) (Sample, error) {
			return idemCommands(ctx, env, SyncFull, "distinct", 1, command.WithCache(0))
		}})
	for _, pick := range []string{"distinct", "uniform", "zipf"} {
		for _, c := range cfg.Concurrency {
			ws = append(ws, Workload{Key: fmt.Sprintf("idem/P2/%s/c%d", pick, c), Unit: "cmd/s",
				Note: fmt.Sprintf("%s aggregates over %d, FULL, default handler; retries are redeliveries after RetriesExhausted", pick, cfg.Aggregates),
				Run: func(ctx context.Context, env *Env) (Sample, error) {
					return idemCommands(ctx, env, SyncFull, pick, c)
				}})
		}
	}
	for _, pick := range []string{"distinct", "zipf"} {
		ws = append(ws, Workload{Key: "idem/P2nocache/" + pick + "/c64", Unit: "cmd/s",
			Note: "P2 (" + pick + ") at 64 callers with WithCache(0): every command loads its aggregate",
			Run: func(ctx context.Context, env *Env) (Sample, error) {
				return idemCommands(ctx, env, SyncFull, pick, 64, command.WithCache(0))
			}})
	}
	ws = append(ws,
		Workload{Key: "idem/P3/duplicate", Unit: "cmd/s",
			Note: "redelivered commands (10 processed per aggregate), default handler, warm: answered from the cached processed set",
			Run:  func(ctx context.Context, env *Env) (Sample, error) { return idemDuplicates(ctx, env) }},
		Workload{Key: "idem/P5/load", Unit: "rows/s", Note: "Handler.Load of a 1000-event aggregate (events decoded and folded; WithoutSnapshots)",
			Run: func(ctx context.Context, env *Env) (Sample, error) { return idemLoad(ctx, env, false) }},
		Workload{Key: "idem/P5/snapshot", Unit: "rows/s",
			Note: "Handler.Load with WithSnapshots(aggregate/sqlitesnap in its own file, every 100): events-equivalent rate (1000 per load)",
			Run:  func(ctx context.Context, env *Env) (Sample, error) { return idemLoad(ctx, env, true) }},
	)
	ws = append(ws, projectionWorkloads(cfg)...)
	ws = append(ws, shapeWorkloads()...)
	ws = append(ws, esbsWorkloads()...)
	return append(ws, otelWorkloads()...)
}

// quietLogger discards the handler's retry logs, which would flood the output
// under Zipf contention.
var quietLogger = slog.New(slog.DiscardHandler)

// openIdemSQLite opens a fresh idem SQLite store in the run's directory.
func openIdemSQLite(ctx context.Context, env *Env, name string, sync Synchronous) (*sqlite.Store, error) {
	mode := sqlite.Full
	if sync == SyncNormal {
		mode = sqlite.Normal
	}
	st, err := sqlite.Open(ctx, env.freshPath(name), sqlite.WithSynchronous(mode))
	if err != nil {
		return nil, fmt.Errorf("open idem sqlite store: %w", err)
	}
	return st, nil
}

// newAccounts returns a handler over store with Aggregates accounts of perAccount
// processed commands each (command ids "seed-<agg>-<k>").
func newAccounts(ctx context.Context, env *Env, store eventstore.Store, perAccount int, opts ...command.Option) (*accountHandler, error) {
	codec, err := newAccountCodec()
	if err != nil {
		return nil, err
	}
	h, err := command.NewHandler(store, accountDecider, codec, append([]command.Option{command.WithLogger(quietLogger)}, opts...)...)
	if err != nil {
		return nil, err
	}
	// Seed from 32 goroutines, each owning every 32nd account, so group commit
	// keeps seeding short even with synchronous=FULL.
	err = parallel(32, func(w int) error {
		for k := range perAccount {
			for a := w; a < env.Aggregates; a += 32 {
				if _, err := h.Handle(ctx, command.Command[deposit]{ID: fmt.Sprintf("seed-%d-%d", a, k), AggregateID: accountID(a),
					Payload: deposit{Amount: 1, Reference: "seed"}}); err != nil {
					return fmt.Errorf("seed account %d: %w", a, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// handleNew handles a new command (id unique to worker and i) on aggregate agg.
// A command whose conflict retries ran out is redelivered, as an at-least-once
// transport would, and counted as a retry.
func handleNew(ctx context.Context, h *accountHandler, worker, agg, i int) (int, error) {
	c := command.Command[deposit]{ID: fmt.Sprintf("cmd-%d-%d", worker, i), AggregateID: accountID(agg),
		Payload: deposit{Amount: 100, Reference: fmt.Sprint("ref-", i)}}
	for retries := 0; retries < 100; retries++ {
		_, err := h.Handle(ctx, c)
		if err == nil {
			return retries, nil
		}
		if !errors.Is(err, command.ErrRetriesExhausted) {
			return retries, err
		}
	}
	return 100, fmt.Errorf("command %s: still conflicting after 100 redeliveries", c.ID)
}

// idemCommands runs new commands from callers goroutines on a fresh SQLite store.
func idemCommands(ctx context.Context, env *Env, sync Synchronous, pick string, callers int, opts ...command.Option) (Sample, error) {
	st, err := openIdemSQLite(ctx, env, "idem-commands", sync)
	if err != nil {
		return Sample{}, err
	}
	defer st.Close()
	h, err := newAccounts(ctx, env, st, 1, opts...)
	if err != nil {
		return Sample{}, err
	}
	before := h.Stats().ConflictsRetried
	s, err := runCommands(env, callers, newPicker(pick, callers, env.Aggregates), func(w, agg, i int) (int, error) {
		return handleNew(ctx, h, w, agg, i)
	})
	s.Conflicts = int(h.Stats().ConflictsRetried - before)
	return s, err
}

// idemDuplicates redelivers commands already handled: each must come back as a
// duplicate and write nothing.
func idemDuplicates(ctx context.Context, env *Env, opts ...command.Option) (Sample, error) {
	st, err := openIdemSQLite(ctx, env, "idem-duplicates", SyncFull)
	if err != nil {
		return Sample{}, err
	}
	defer st.Close()
	const perAccount = 10
	h, err := newAccounts(ctx, env, st, perAccount, opts...)
	if err != nil {
		return Sample{}, err
	}
	return runCommands(env, 1, newPicker("distinct", 1, env.Aggregates), func(_, agg, i int) (int, error) {
		k := (i / env.Aggregates) % perAccount
		res, err := h.Handle(ctx, command.Command[deposit]{ID: fmt.Sprintf("seed-%d-%d", agg, k), AggregateID: accountID(agg),
			Payload: deposit{Amount: 1, Reference: "seed"}})
		if err == nil && !res.Duplicate {
			err = fmt.Errorf("redelivered command seed-%d-%d was not recognised as a duplicate", agg, k)
		}
		return 0, err
	})
}

// idemLoad loads aggregates of StreamEvents events each, with or without snapshots.
func idemLoad(ctx context.Context, env *Env, snapshots bool) (Sample, error) {
	st, err := openIdemSQLite(ctx, env, "idem-load", SyncNormal)
	if err != nil {
		return Sample{}, err
	}
	defer st.Close()
	// Without snapshots P5 reads every event: the handler's automatic snapshots
	// (on by default on a store that keeps them) are turned off.
	opts := []command.Option{command.WithCache(8), command.WithoutSnapshots()}
	if snapshots {
		db, err := sql.Open("sqlite3", sqliteDSN(env.freshPath("idem-snapshots"), SyncNormal, "immediate"))
		if err != nil {
			return Sample{}, err
		}
		defer db.Close()
		snaps, err := sqlitesnap.New(ctx, db)
		if err != nil {
			return Sample{}, err
		}
		opts = append(opts, command.WithSnapshots(snaps), command.WithSnapshotEvery(100), command.WithSnapshotVersion(1))
	}
	const loaded = 4
	small := *env
	small.Aggregates = loaded
	h, err := newAccounts(ctx, &small, st, env.StreamEvents, opts...)
	if err != nil {
		return Sample{}, err
	}
	return runFor(1, env.Duration, func(_, i int) (int, int, error) {
		l, err := h.Load(ctx, accountID(i%loaded))
		if err == nil && int(l.Revision) != env.StreamEvents-1 {
			err = fmt.Errorf("loaded revision %d, want %d", l.Revision, env.StreamEvents-1)
		}
		return env.StreamEvents, 0, err
	})
}

// idemMemoryCommand is idem's entry in the in-memory table.
func idemMemoryCommand(ctx context.Context, env *Env) (func(agg, i int) error, error) {
	h, err := newAccounts(ctx, env, memory.New(), 1)
	if err != nil {
		return nil, err
	}
	return func(agg, i int) error {
		_, err := h.Handle(ctx, command.Command[deposit]{ID: fmt.Sprintf("cmd-%d-%d", agg, i), AggregateID: accountID(agg),
			Payload: deposit{Amount: 100, Reference: fmt.Sprint("ref-", i)}})
		return err
	}, nil
}
