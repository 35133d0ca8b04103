package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// baselineWorkloads are the raw go-sqlite3 figures every idem workload is divided
// by: the best that plain database/sql code gets from the same file, pragmas and
// schema, with none of idem's guarantees.
func baselineWorkloads(cfg Config) []Workload {
	var ws []Workload
	for _, s := range []Synchronous{SyncFull, SyncNormal} {
		ws = append(ws,
			Workload{Key: "raw/revcheck/" + string(s), Unit: "tx/s",
				Note: "BEGIN IMMEDIATE; read the stream's last revision; compare; INSERT; COMMIT",
				Run:  func(ctx context.Context, env *Env) (Sample, error) { return rawRevisionChecked(ctx, env, s) }},
			Workload{Key: "raw/batch100/" + string(s), Unit: "rows/s",
				Note: "100 INSERTs (random ids) per BEGIN IMMEDIATE transaction",
				Run:  func(ctx context.Context, env *Env) (Sample, error) { return rawBatch(ctx, env, s) }},
		)
	}
	ws = append(ws,
		Workload{Key: "raw/loadcheck/FULL", Unit: "tx/s",
			Note: "read the stream's events and decode them (JSON), then the revision-checked insert of raw/revcheck: a hand-written command without a cache",
			Run:  func(ctx context.Context, env *Env) (Sample, error) { return rawLoadRevisionChecked(ctx, env, SyncFull) }},
		Workload{Key: "raw/scan", Unit: "rows/s", Note: "SELECT every column of every event in position order (the file idem wrote for P4)",
			Run: rawScan},
		Workload{Key: "raw/stream1000", Unit: "rows/s", Note: "SELECT the 1000 events of one stream in revision order (the file idem wrote for P4)",
			Run: rawStreamRead},
	)
	for _, c := range cfg.Concurrency {
		ws = append(ws, Workload{Key: fmt.Sprintf("raw/grouped/c%d", c), Unit: "tx/s",
			Note: "revision-checked inserts from c callers, one writer commits all pending in one transaction (FULL)",
			Run:  func(ctx context.Context, env *Env) (Sample, error) { return rawGrouped(ctx, env, c) }})
	}
	return ws
}

// rawStatements are the prepared statements of a raw revision-checked append.
type rawStatements struct {
	last, insert *sql.Stmt
}

func prepareRaw(ctx context.Context, db *sql.DB) (*rawStatements, error) {
	last, err := db.PrepareContext(ctx, `SELECT revision FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("prepare raw select: %w", err)
	}
	insert, err := db.PrepareContext(ctx, rawInsert)
	if err != nil {
		return nil, fmt.Errorf("prepare raw insert: %w", err)
	}
	return &rawStatements{last: last, insert: insert}, nil
}

// appendChecked is the raw form of an append with Exact(expected): read the last
// revision of stream, refuse a mismatch, insert the next event.
func (st *rawStatements) appendChecked(ctx context.Context, tx *sql.Tx, stream string, expected int) error {
	var last int
	if err := tx.StmtContext(ctx, st.last).QueryRowContext(ctx, stream).Scan(&last); err != nil {
		return fmt.Errorf("read revision of %s: %w", stream, err)
	}
	if last != expected {
		return fmt.Errorf("append to %s: expected revision %d, actual %d", stream, expected, last)
	}
	_, err := tx.StmtContext(ctx, st.insert).ExecContext(ctx, stream, last+1, newID(), "Deposited", eventData, eventMetadata, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("insert into %s: %w", stream, err)
	}
	return nil
}

// rawWriteDB opens a fresh database with Aggregates streams of one event each.
func rawWriteDB(ctx context.Context, env *Env, name string, sync Synchronous) (*sql.DB, *rawStatements, error) {
	db, err := openRaw(ctx, env.freshPath(name), sync)
	if err != nil {
		return nil, nil, err
	}
	if err := seedRaw(ctx, db, env.Aggregates, 1); err != nil {
		db.Close()
		return nil, nil, err
	}
	st, err := prepareRaw(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, st, nil
}

// rawRevisionChecked is one caller appending one event per transaction to
// existing streams, each append checking the stream's revision.
func rawRevisionChecked(ctx context.Context, env *Env, sync Synchronous) (Sample, error) {
	db, st, err := rawWriteDB(ctx, env, "raw-revcheck", sync)
	if err != nil {
		return Sample{}, err
	}
	defer db.Close()
	revisions := make([]int, env.Aggregates)
	return runCommands(env, 1, newPicker("distinct", 1, env.Aggregates), func(_, a, _ int) (int, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		defer tx.Rollback()
		if err := st.appendChecked(ctx, tx, streamName(a), revisions[a]); err != nil {
			return 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		revisions[a]++
		return 0, nil
	})
}

// rawLoadRevisionChecked is rawRevisionChecked after reading the stream's events
// and decoding them, as a command handler without a cache does.
func rawLoadRevisionChecked(ctx context.Context, env *Env, sync Synchronous) (Sample, error) {
	db, st, err := rawWriteDB(ctx, env, "raw-loadcheck", sync)
	if err != nil {
		return Sample{}, err
	}
	defer db.Close()
	read, err := db.PrepareContext(ctx, `SELECT revision, data FROM events WHERE stream = ? ORDER BY revision`)
	if err != nil {
		return Sample{}, fmt.Errorf("prepare raw read: %w", err)
	}
	defer read.Close()
	return runCommands(env, 1, newPicker("distinct", 1, env.Aggregates), func(_, a, _ int) (int, error) {
		last, err := rawLoad(ctx, read, streamName(a))
		if err != nil {
			return 0, err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		defer tx.Rollback()
		if err := st.appendChecked(ctx, tx, streamName(a), last); err != nil {
			return 0, err
		}
		return 0, tx.Commit()
	})
}

// rawLoad reads and decodes the events of stream and returns its last revision.
func rawLoad(ctx context.Context, read *sql.Stmt, stream string) (int, error) {
	rows, err := read.QueryContext(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", stream, err)
	}
	defer rows.Close()
	last, balance := -1, 0
	for rows.Next() {
		var data []byte
		var e struct {
			Amount int `json:"amount"`
		}
		if err := rows.Scan(&last, &data); err != nil {
			return 0, fmt.Errorf("read %s: %w", stream, err)
		}
		if err := json.Unmarshal(data, &e); err != nil {
			return 0, fmt.Errorf("decode %s: %w", stream, err)
		}
		balance += e.Amount
	}
	return last, rows.Err()
}

// rawBatch inserts 100 new events per transaction.
func rawBatch(ctx context.Context, env *Env, sync Synchronous) (Sample, error) {
	db, st, err := rawWriteDB(ctx, env, "raw-batch", sync)
	if err != nil {
		return Sample{}, err
	}
	defer db.Close()
	return runFor(1, env.Duration, func(_, i int) (int, int, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, err
		}
		defer tx.Rollback()
		ins := tx.StmtContext(ctx, st.insert)
		now := time.Now().UnixNano()
		for k := range 100 {
			if _, err := ins.ExecContext(ctx, fmt.Sprintf("batch-%d-%d", i, k), 0, newID(), "Deposited", eventData, eventMetadata, now); err != nil {
				return 0, 0, err
			}
		}
		return 100, 0, tx.Commit()
	})
}

// rawScan reads every event of the log, every column, in position order.
func rawScan(ctx context.Context, env *Env) (Sample, error) {
	path, err := logFixture(ctx, env, env.ScanEvents)
	if err != nil {
		return Sample{}, err
	}
	db, err := openRaw(ctx, path, SyncNormal)
	if err != nil {
		return Sample{}, err
	}
	defer db.Close()
	return timeOnce(func() (int, error) {
		return scanRows(db.QueryContext(ctx, rawSelectColumns+` ORDER BY position`))
	})
}

// rawStreamRead reads whole streams of StreamEvents events, one after another.
func rawStreamRead(ctx context.Context, env *Env) (Sample, error) {
	path, err := logFixture(ctx, env, env.ScanEvents)
	if err != nil {
		return Sample{}, err
	}
	db, err := openRaw(ctx, path, SyncNormal)
	if err != nil {
		return Sample{}, err
	}
	defer db.Close()
	stmt, err := db.PrepareContext(ctx, rawSelectColumns+` WHERE stream = ? ORDER BY revision`)
	if err != nil {
		return Sample{}, err
	}
	streams := env.ScanEvents / env.StreamEvents
	return runFor(1, env.Duration, func(_, i int) (int, int, error) {
		n, err := scanRows(stmt.QueryContext(ctx, streamName(i%streams)))
		return n, 0, err
	})
}

// scanRows reads every row into the Go values a store would return.
func scanRows(rows *sql.Rows, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		pos, rev, at int64
		stream, typ  string
		id, data, md []byte
	)
	n := 0
	for rows.Next() {
		if err := rows.Scan(&pos, &stream, &rev, &id, &typ, &data, &md, &at); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// rawGrouped is the best grouping raw code can do: callers hand their
// revision-checked inserts to one writer, which commits everything pending in one
// BEGIN IMMEDIATE transaction (group commit), then answers each caller.
func rawGrouped(ctx context.Context, env *Env, callers int) (Sample, error) {
	db, st, err := rawWriteDB(ctx, env, "raw-grouped", SyncFull)
	if err != nil {
		return Sample{}, err
	}
	defer db.Close()
	type request struct {
		stream   string
		expected int
		done     chan error
	}
	reqs := make(chan request, callers)
	var wg sync.WaitGroup
	wg.Go(func() {
		batch := make([]request, 0, callers)
		errs := make([]error, 0, callers)
		for first := range reqs {
			batch = append(batch[:0], first)
		drain:
			for len(batch) < cap(batch) {
				select {
				case r := <-reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			errs = errs[:0]
			tx, err := db.BeginTx(ctx, nil)
			for _, r := range batch {
				if err == nil {
					errs = append(errs, st.appendChecked(ctx, tx, r.stream, r.expected))
				} else {
					errs = append(errs, err)
				}
			}
			if err == nil {
				err = tx.Commit()
			}
			for k, r := range batch {
				if err != nil {
					r.done <- err
				} else {
					r.done <- errs[k]
				}
			}
		}
	})
	defer wg.Wait()
	defer close(reqs)
	revisions := make([]int, env.Aggregates) // each entry is owned by one caller
	dones := make([]chan error, callers)
	for w := range dones {
		dones[w] = make(chan error, 1)
	}
	return runCommands(env, callers, newPicker("distinct", callers, env.Aggregates), func(w, a, _ int) (int, error) {
		reqs <- request{stream: streamName(a), expected: revisions[a], done: dones[w]}
		if err := <-dones[w]; err != nil {
			return 0, err
		}
		revisions[a]++
		return 0, nil
	})
}
