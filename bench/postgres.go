package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
)

// PostgreSQL figures: idem's PostgreSQL backend against raw pgx doing the same
// revision-checked insert, at 1 and 64 callers, in the same run, on the server
// IDEM_POSTGRES_URL names (.ci/postgres.sh starts a throwaway one; CI sets it).
// Each run works in a schema of its own, dropped afterwards.

// postgresCallers are the caller counts of the PostgreSQL figures.
var postgresCallers = []int{1, 64}

func postgresWorkloads() []Workload {
	var ws []Workload
	for _, c := range postgresCallers {
		ws = append(ws,
			Workload{Key: fmt.Sprintf("raw/pg/revcheck/c%d", c), Unit: "appends/s",
				Note: "pgx, pool of max(c,4): one INSERT of the next revision per append, autocommit; UNIQUE (stream, revision) checks it, positions from a bigserial (the naive sequence)",
				Run:  func(ctx context.Context, env *Env) (Sample, error) { return rawPostgres(ctx, env, c) }},
			Workload{Key: fmt.Sprintf("idem/pg/append/c%d", c), Unit: "appends/s",
				Note: "eventstore/postgres Append, Exact(n), one event, one Store (group commit, serialised positions)",
				Run:  func(ctx context.Context, env *Env) (Sample, error) { return idemPostgresAppends(ctx, env, c, 0) }},
			Workload{Key: fmt.Sprintf("idem/pg/append1/c%d", c), Unit: "appends/s",
				Note: "as idem/pg/append with WithMaxBatch(1): no group commit",
				Run:  func(ctx context.Context, env *Env) (Sample, error) { return idemPostgresAppends(ctx, env, c, 1) }},
			Workload{Key: fmt.Sprintf("idem/pg/command/c%d", c), Unit: "cmd/s",
				Note: "Handle with WithCache: dedupe, decide, append (one event) on distinct aggregates",
				Run:  func(ctx context.Context, env *Env) (Sample, error) { return idemPostgresCommands(ctx, env, c) }},
		)
	}
	return ws
}

// postgresComparisons are the rows of the main table for PostgreSQL.
func postgresComparisons() []comparison {
	var cs []comparison
	for _, c := range postgresCallers {
		cs = append(cs, comparison{
			Workload: fmt.Sprintf("PostgreSQL append, %d caller(s)", c),
			Idem:     fmt.Sprintf("idem/pg/append/c%d", c), Base: fmt.Sprintf("raw/pg/revcheck/c%d", c),
			Target: "report (no target yet)", Met: func(Result, Result, float64) bool { return true },
			Peers: []string{fmt.Sprintf("idem/pg/append1/c%d", c), fmt.Sprintf("idem/pg/command/c%d", c)},
		})
	}
	return cs
}

// postgresURL returns the server of the PostgreSQL figures, or a skip.
func postgresURL() (string, error) {
	url := os.Getenv("IDEM_POSTGRES_URL")
	if url == "" {
		return "", skip("IDEM_POSTGRES_URL is unset (eval \"$(.ci/postgres.sh start)\")")
	}
	return url, nil
}

// postgresSchema creates nothing: it names a schema for one run and returns the
// function that drops it.
func postgresSchema(ctx context.Context, url string) (string, func(), error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "idem_bench_" + hex.EncodeToString(b[:])
	drop := func() {
		conn, err := pgx.Connect(context.WithoutCancel(ctx), url)
		if err != nil {
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, _ = conn.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
	}
	return name, drop, nil
}

// rawPostgres is the baseline: the best plain pgx code does for a
// revision-checked append of one event, one INSERT in autocommit, each caller on a
// stream of its own.
func rawPostgres(ctx context.Context, env *Env, callers int) (Sample, error) {
	url, err := postgresURL()
	if err != nil {
		return Sample{}, err
	}
	schema, drop, err := postgresSchema(ctx, url)
	if err != nil {
		return Sample{}, err
	}
	defer drop()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return Sample{}, err
	}
	cfg.MaxConns = int32(max(callers, 4))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return Sample{}, err
	}
	defer pool.Close()
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+q+`; CREATE TABLE `+q+`.events (
		position bigserial PRIMARY KEY, stream text COLLATE "C" NOT NULL, revision bigint NOT NULL, id uuid NOT NULL,
		type text NOT NULL, data bytea, metadata bytea, recorded_at timestamptz NOT NULL, UNIQUE (stream, revision))`); err != nil {
		return Sample{}, fmt.Errorf("create raw schema: %w", err)
	}
	// Every caller's connection is made before the timed part, as idem's are.
	conns := make([]*pgxpool.Conn, callers)
	for i := range conns {
		if conns[i], err = pool.Acquire(ctx); err != nil {
			return Sample{}, fmt.Errorf("warm up the pool: %w", err)
		}
	}
	for _, c := range conns {
		c.Release()
	}
	insert := "INSERT INTO " + q + ".events (stream, revision, id, type, data, metadata, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
	next := make([]int64, callers)
	return runFor(callers, env.Duration, func(w, _ int) (int, int, error) {
		_, err := pool.Exec(ctx, insert, fmt.Sprintf("raw-%d", w), next[w], uuid.New(), "Deposited", eventData, eventMetadata, time.Now())
		if err != nil {
			return 0, 0, fmt.Errorf("raw insert: %w", err)
		}
		next[w]++
		return 1, 0, nil
	})
}

// openIdemPostgres opens idem's store in a fresh schema.
func openIdemPostgres(ctx context.Context, opts ...postgres.Option) (*postgres.Store, func(), error) {
	url, err := postgresURL()
	if err != nil {
		return nil, nil, err
	}
	schema, drop, err := postgresSchema(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	st, err := postgres.Open(ctx, url, append([]postgres.Option{postgres.WithSchema(schema), postgres.WithLogger(quietLogger)}, opts...)...)
	if err != nil {
		drop()
		return nil, nil, fmt.Errorf("open idem postgres store: %w", err)
	}
	return st, func() { st.Close(); drop() }, nil
}

// idemPostgresAppends: each caller appends one event with Exact(n) to a stream of
// its own, through one Store.
func idemPostgresAppends(ctx context.Context, env *Env, callers, maxBatch int) (Sample, error) {
	var opts []postgres.Option
	if maxBatch > 0 {
		opts = append(opts, postgres.WithMaxBatch(maxBatch))
	}
	st, closeAll, err := openIdemPostgres(ctx, opts...)
	if err != nil {
		return Sample{}, err
	}
	defer closeAll()
	expected := make([]eventstore.ExpectedRevision, callers)
	for i := range expected {
		expected[i] = eventstore.NoStream()
	}
	return runFor(callers, env.Duration, func(w, _ int) (int, int, error) {
		res, err := st.Append(ctx, fmt.Sprintf("idem-%d", w), expected[w],
			eventstore.EventData{ID: uuid.New(), Type: "Deposited", Data: eventData, Metadata: eventMetadata})
		if err != nil {
			return 0, 0, err
		}
		expected[w] = eventstore.Exact(res.Revision)
		return 1, 0, nil
	})
}

// idemPostgresCommands: each caller handles deposits on an aggregate of its own,
// with the aggregate cache (a new command on a cached aggregate costs one append).
func idemPostgresCommands(ctx context.Context, env *Env, callers int) (Sample, error) {
	st, closeAll, err := openIdemPostgres(ctx)
	if err != nil {
		return Sample{}, err
	}
	defer closeAll()
	codec, err := newAccountCodec()
	if err != nil {
		return Sample{}, err
	}
	h, err := command.NewHandler(st, accountDecider, codec, command.WithCache(callers), command.WithLogger(quietLogger))
	if err != nil {
		return Sample{}, err
	}
	return runFor(callers, env.Duration, func(w, i int) (int, int, error) {
		_, err := h.Handle(ctx, command.Command[deposit]{ID: fmt.Sprintf("c-%d-%d", w, i), AggregateID: accountID(w),
			Payload: deposit{Amount: 1, Reference: fmt.Sprint(i)}})
		if err != nil {
			return 0, 0, err
		}
		return 1, 0, nil
	})
}
