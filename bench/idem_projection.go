package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// projectionWorkloads are P4 (rebuild throughput against a raw scan) and P7 (peak
// memory of a rebuild, measured in a child process).
func projectionWorkloads(cfg Config) []Workload {
	ws := make([]Workload, 0, 3)
	for _, kind := range []string{"count", "rows"} {
		ws = append(ws, Workload{Key: "idem/P4/" + kind, Unit: "rows/s", Runs: min(cfg.Runs, 3),
			Note: "projection.Runner.CatchUp from position zero into a fresh target file (FULL), " + projectionNote[kind],
			Run: func(ctx context.Context, env *Env) (Sample, error) {
				path, err := logFixture(ctx, env, env.ScanEvents)
				if err != nil {
					return Sample{}, err
				}
				return timeOnce(func() (int, error) { return rebuild(ctx, path, env.freshPath("target"), kind) })
			}})
	}
	note := fmt.Sprintf("peak RSS (VmHWM of a child process) rebuilding the row-per-event projection over %d events", cfg.P7Events)
	if cfg.Quick {
		note += " (quick mode: the issue's 1M needs the default mode)"
	}
	return append(ws, Workload{Key: "idem/P7/rss", Unit: "bytes", Note: note, Runs: 1, Run: measureRebuildMemory})
}

var projectionNote = map[string]string{
	"count": "counting: one UPDATE of a totals row per event",
	"rows":  "one INSERT per event of its stream, revision and decoded amount",
}

// logFixture returns an idem SQLite store file holding n events written through
// the backend's Append, 100 events per append, in streams of StreamEvents events,
// with the data and metadata the command handler writes. It is built once per run
// of the harness; the raw scan and stream-read baselines read the same file.
func logFixture(ctx context.Context, env *Env, n int) (string, error) {
	return env.fixture(ctx, fmt.Sprintf("idem-log-%d", n), func(ctx context.Context, path string) error {
		st, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.Normal))
		if err != nil {
			return err
		}
		defer st.Close()
		const perAppend, writers = 100, 4
		streams := max(1, n/env.StreamEvents)
		rounds := env.StreamEvents / perAppend
		return parallel(writers, func(w int) error {
			for r := range rounds {
				for s := w; s < streams; s += writers {
					if err := appendDeposits(ctx, st, streamName(s), r*perAppend, perAppend); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
}

// appendDeposits appends count deposited events to stream, whose revision is from-1.
func appendDeposits(ctx context.Context, st eventstore.Store, stream string, from, count int) error {
	events := make([]eventstore.EventData, count)
	for k := range events {
		cmdID := uuid.NewString()
		data, _ := json.Marshal(deposited{Amount: 100, Reference: "ref-" + strconv.Itoa(from+k)})
		meta := command.Metadata{CommandID: cmdID, Fingerprint: "sha256:" + cmdID, CommandType: "Deposit",
			CorrelationID: cmdID, CausationID: cmdID, Count: 1}.Encode()
		events[k] = eventstore.EventData{ID: uuid.New(), Type: "Deposited", Data: data, Metadata: meta}
	}
	expected := eventstore.NoStream()
	if from > 0 {
		expected = eventstore.Exact(uint64(from - 1))
	}
	_, err := st.Append(ctx, stream, expected, events...)
	return err
}

// rebuild builds a projection of the given kind from position zero over the store
// file at storePath into a fresh target database, and returns how many events it
// applied.
func rebuild(ctx context.Context, storePath, targetPath, kind string) (int, error) {
	st, err := sqlite.Open(ctx, storePath)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	target, err := sqlitetarget.Open(ctx, targetPath)
	if err != nil {
		return 0, err
	}
	defer target.Close()
	r, err := projection.NewRunner(st, target, projection.WithLogger(quietLogger), projection.WithoutLagRefresh())
	if err != nil {
		return 0, err
	}
	var applied atomic.Int64
	if err := r.Add(benchProjection(kind, &applied)); err != nil {
		return 0, err
	}
	if err := r.CatchUp(ctx); err != nil {
		return int(applied.Load()), fmt.Errorf("rebuild %s projection: %w", kind, err)
	}
	return int(applied.Load()), nil
}

// benchProjection is the counting or the row-per-event projection; applied counts
// the events it handled.
func benchProjection(kind string, applied *atomic.Int64) projection.Projection[*sqlitetarget.Tx] {
	if kind == "count" {
		return projection.Projection[*sqlitetarget.Tx]{Name: "deposit_totals", Version: 1, Tables: []string{"totals"},
			Setup: func(ctx context.Context, tx *sqlitetarget.Tx) error {
				if _, err := tx.Exec(ctx, `CREATE TABLE {totals} (id INTEGER PRIMARY KEY, events INTEGER NOT NULL)`); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO {totals} (id, events) VALUES (1, 0)`)
				return err
			},
			Handle: func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
				applied.Add(1)
				// With an argument the statement is prepared once per batch (sqlitetarget.Tx).
				_, err := tx.Exec(ctx, `UPDATE {totals} SET events = events + ? WHERE id = 1`, 1)
				return err
			}}
	}
	return projection.Projection[*sqlitetarget.Tx]{Name: "deposits", Version: 1, Tables: []string{"deposits"},
		Setup: func(ctx context.Context, tx *sqlitetarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {deposits} (stream TEXT NOT NULL, revision INTEGER NOT NULL, amount INTEGER NOT NULL, PRIMARY KEY (stream, revision))`)
			return err
		},
		Handle: func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
			applied.Add(1)
			var d deposited
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO {deposits} (stream, revision, amount) VALUES (?, ?, ?)`, e.Stream, e.Revision, d.Amount)
			return err
		}}
}

// p7Report is what the child prints: events applied, its own VmHWM, and the
// memory the Go runtime obtained from the OS (the rest of the RSS is SQLite's and
// the C allocator's).
type p7Report struct {
	Events    int
	VmHWMKiB  int64
	GoSysKiB  uint64
	GoHeapKiB uint64
}

// measureRebuildMemory re-executes the harness as a child that rebuilds the
// row-per-event projection over P7Events events and exits; the peak RSS is the
// child's own VmHWM. Not getrusage: Go starts children with vfork and exec, and
// Linux carries the parent's high-water RSS into the child's ru_maxrss across the
// exec, so a large harness would inflate the child's figure.
func measureRebuildMemory(ctx context.Context, env *Env) (Sample, error) {
	path, err := logFixture(ctx, env, env.P7Events)
	if err != nil {
		return Sample{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return Sample{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "-p7-child", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return Sample{}, fmt.Errorf("p7 child: %w", err)
	}
	elapsed := time.Since(start)
	var rep p7Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return Sample{}, fmt.Errorf("p7 child printed %q: %w", out.String(), err)
	}
	if rep.VmHWMKiB == 0 {
		return Sample{}, skip("the child could not read its peak RSS (no /proc/self/status VmHWM on this OS)")
	}
	if rep.Events != env.P7Events {
		return Sample{}, fmt.Errorf("p7 child applied %d events, want %d", rep.Events, env.P7Events)
	}
	slog.Info("p7 child", "events", rep.Events, "VmHWM KiB", rep.VmHWMKiB, "Go runtime KiB", rep.GoSysKiB, "Go heap KiB", rep.GoHeapKiB)
	return Sample{Ops: rep.Events, Elapsed: elapsed, PeakRSS: rep.VmHWMKiB * 1024}, nil
}

// runP7Child is the child's side of measureRebuildMemory.
func runP7Child(ctx context.Context, path string) error {
	target := fmt.Sprintf("%s.p7-target-%d.db", path, os.Getpid())
	defer os.Remove(target)
	defer os.Remove(target + "-wal")
	defer os.Remove(target + "-shm")
	n, err := rebuild(ctx, path, target, "rows")
	if err != nil {
		return err
	}
	kb, _ := strconv.ParseInt(strings.TrimSuffix(procField("/proc/self/status", "VmHWM"), " kB"), 10, 64)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return json.NewEncoder(os.Stdout).Encode(p7Report{Events: n, VmHWMKiB: kb, GoSysKiB: ms.Sys / 1024, GoHeapKiB: ms.HeapSys / 1024})
}
