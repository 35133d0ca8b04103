// Package demo is the core of idem's end-to-end demo (go run ./examples/demo): a
// seeded workload of invoicing and payments messages, delivered at least once
// (duplicated, reordered, replayed, raced) to worker processes that are killed
// with SIGKILL and restarted, then checked against the invariants idem promises.
package demo

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config sets up a run. Zero counts, paths and durations take the defaults of
// DefaultConfig; zero rates and a zero Cache mean none.
type Config struct {
	// Seed makes the workload, the delivery schedule and the kill moments
	// repeatable (the interleaving of processes is not).
	Seed uint64
	// Messages is the number of distinct messages in the workload.
	Messages int
	// DuplicateRate is the probability that a delivery is followed by another copy.
	DuplicateRate float64
	// ReplayRate is the probability that the last few deliveries are replayed.
	ReplayRate float64
	// RaceRate is the probability that a delivery goes to two workers at once.
	RaceRate float64
	// ReorderWindow is how far a delivery may move from its place.
	ReorderWindow int
	// TwoPathRate is the share of shipments whose fact also arrives by a second
	// path, with another message id.
	TwoPathRate float64
	// KeyReuseRate is the share of payments commands sent again, long after, with
	// the same command id and another payload.
	KeyReuseRate float64
	// CrashRate is the probability, after each acknowledgement, that a random
	// worker process is killed with SIGKILL (the projector: a quarter of it).
	CrashRate float64
	// Workers is the number of worker processes; Consumers the goroutines in each.
	Workers, Consumers int
	// Window is how many deliveries a worker may hold unacknowledged.
	Window int
	// MaxAttempts is how often a message refused "for now" or failed is delivered
	// again before it is dead-lettered.
	MaxAttempts int
	// DBPath is the event store's SQLite file. The read models (live, then
	// rebuilt beside them as version 2) go to DBPath+".read" and the simulated mail
	// service to DBPath+".mail". Existing files are replaced.
	DBPath string
	// Backend is "sqlite", a PostgreSQL connection string (postgres://...: the
	// events go to a schema of the run's own, named after DBPath and replaced by
	// the run, and the read models to another beside it, through
	// projection/pgtarget; the workers are replicas on them), or an EventStoreDB
	// connection string (esdb://...). The simulated mail service stays in
	// DBPath+".mail" whatever the backend.
	Backend string
	// Synchronous is the SQLite event store's synchronous mode: "FULL" or "NORMAL".
	Synchronous string
	// Exe and Env start a worker process: Exe is run with Env added to the
	// environment (see WorkerMain). Exe defaults to os.Executable().
	Exe string
	Env []string
	// Progress receives a line of progress every ProgressEvery; nil for none.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Cache is the size of each command handler's aggregate cache
	// (command.WithCache): DefaultConfig keeps 1024 aggregates per handler; 0 loads
	// every aggregate from the store. A worker may then decide on a cached state
	// another process has moved past: the handler's Exact append, its check of
	// outcomes that write nothing, and event ids that carry the payload
	// fingerprint catch it (a reused command id is still refused loudly).
	Cache int
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Transport, if set, makes the transport that delivers the run's messages
	// (see Transport); nil delivers them through the in-process broker.
	Transport func(cfg Config, messages []Message) (Transport, error)
	// Metrics, if set, receives the run's metrics, which it serves (see
	// ServeMetrics): the worker processes', the projector's and the run's own.
	// The workers of a Transport report none.
	Metrics *MetricsServer
}

// DefaultConfig returns the defaults: 20,000 messages, seed 1, 3 workers of 4
// consumers, about 25% duplicates, kills every few hundred acknowledgements, an
// aggregate cache of 1024 per command handler.
func DefaultConfig() Config {
	return Config{
		Seed:          1,
		Messages:      20_000,
		DuplicateRate: 0.2,
		ReplayRate:    0.01,
		RaceRate:      0.05,
		ReorderWindow: 50,
		TwoPathRate:   0.2,
		KeyReuseRate:  0.005,
		CrashRate:     0.002,
		Workers:       3,
		Consumers:     4,
		Window:        8,
		MaxAttempts:   12,
		DBPath:        filepath.Join(os.TempDir(), "idem-demo.db"),
		Backend:       "sqlite",
		Synchronous:   "FULL",
		Cache:         1024,
		ProgressEvery: time.Second,
		Timeout:       5 * time.Minute,
	}
}

// withDefaults fills zero fields from DefaultConfig and checks the rest.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Messages == 0 {
		c.Messages = d.Messages
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.Consumers == 0 {
		c.Consumers = d.Consumers
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.DBPath == "" {
		c.DBPath = d.DBPath
	}
	if c.Backend == "" {
		c.Backend = d.Backend
	}
	if c.Synchronous == "" {
		c.Synchronous = d.Synchronous
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = d.ProgressEvery
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	c.Synchronous = strings.ToUpper(c.Synchronous)
	switch {
	case c.Messages < 10:
		return c, fmt.Errorf("demo config: %d messages: need at least 10", c.Messages)
	case c.Workers < 1 || c.Consumers < 1 || c.Window < 1:
		return c, fmt.Errorf("demo config: workers, consumers and window must be at least 1")
	case c.Cache < 0:
		return c, fmt.Errorf("demo config: cache %d: want 0 (none) or more", c.Cache)
	case c.Synchronous != "FULL" && c.Synchronous != "NORMAL":
		return c, fmt.Errorf("demo config: synchronous %q: want FULL or NORMAL", c.Synchronous)
	case c.Backend != "sqlite" && !isPostgres(c.Backend) && !strings.HasPrefix(c.Backend, "esdb://") && !strings.HasPrefix(c.Backend, "kurrentdb://"):
		return c, fmt.Errorf("demo config: backend %q: want sqlite, a postgres:// or an esdb:// connection string", c.Backend)
	}
	for name, r := range map[string]float64{"duplicate rate": c.DuplicateRate, "replay rate": c.ReplayRate,
		"race rate": c.RaceRate, "two-path rate": c.TwoPathRate, "key-reuse rate": c.KeyReuseRate, "crash rate": c.CrashRate} {
		if r < 0 || r >= 1 {
			return c, fmt.Errorf("demo config: %s %v: want 0 <= rate < 1", name, r)
		}
	}
	return c, nil
}
