// Command demo shows, in under a minute on SQLite, what idem is for: business
// flows (invoicing and payments) that stay correct while their messages are
// duplicated, reordered, replayed and raced, and while the processes handling
// them are killed with SIGKILL and restarted.
//
//	go run ./examples/demo                 # seed 1, 20,000 messages
//	go run ./examples/demo -seed 7 -messages 5000 -crash-rate 0.005
//	go run ./examples/demo -metrics-addr 127.0.0.1:9464
//	go run ./examples/demo ops rebuild invoices_per_customer   # see docs/operations.md
//
// It prints a line of progress every second, then a report, and exits with
// status 1 naming the invariant if any broke. See docs/getting-started.md.
//
// With -metrics-addr, it serves idem's metrics at http://ADDR/metrics in the
// Prometheus text format (OpenTelemetry's Prometheus exporter): those of the
// command handlers in every worker process (a killed one counts for its last
// report), of the store and the reservations, and of the projections in the
// projector and in the run's final catch-up and rebuild. After the report it
// keeps serving the final figures until interrupted (Ctrl-C), or for
// -metrics-linger, then exits with the run's status. See docs/observability.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/idemkit/idem/examples/demo/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if demo.IsChild() { // a worker or the projector, started by the run below
		os.Exit(demo.ChildMain(ctx))
	}
	if len(os.Args) > 1 && os.Args[1] == "ops" { // the operations commands, over the demo's database
		os.Exit(demo.OpsMain(ctx, os.Args[1:]))
	}
	os.Exit(run(ctx))
}

func run(ctx context.Context) int {
	cfg := demo.DefaultConfig()
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the workload, the delivery schedule and the kills")
	flag.IntVar(&cfg.Messages, "messages", cfg.Messages, "number of distinct messages")
	flag.Float64Var(&cfg.DuplicateRate, "dup-rate", cfg.DuplicateRate, "probability that a delivery is followed by another copy")
	flag.Float64Var(&cfg.CrashRate, "crash-rate", cfg.CrashRate, "probability, after each acknowledgement, of killing a worker (SIGKILL)")
	flag.StringVar(&cfg.DBPath, "db", cfg.DBPath, "event store file (read models in DB.read, mail in DB.mail); replaced")
	flag.StringVar(&cfg.Backend, "backend", cfg.Backend, `event store: "sqlite", a PostgreSQL connection string (postgres://...: events and read models in schemas of the run's own), or the connection string of an empty EventStoreDB (esdb://host:2113?tls=false)`)
	flag.StringVar(&cfg.Synchronous, "sync", cfg.Synchronous, "SQLite synchronous mode: FULL or NORMAL (see docs/backends.md)")
	flag.IntVar(&cfg.Workers, "workers", cfg.Workers, "worker processes")
	flag.IntVar(&cfg.Consumers, "consumers", cfg.Consumers, "consumers (goroutines) per worker")
	flag.IntVar(&cfg.Cache, "cache", cfg.Cache, "aggregates cached by each command handler (0: none, every command loads its aggregate)")
	quiet := flag.Bool("quiet", false, "no progress lines")
	metricsAddr := flag.String("metrics-addr", "", "serve the run's metrics at http://ADDR/metrics (Prometheus text), e.g. 127.0.0.1:9464")
	linger := flag.Duration("metrics-linger", 0, "with -metrics-addr: how long the final metrics stay served after the report (0: until Ctrl-C)")
	flag.Parse()
	metrics, finish, err := serveMetrics(*metricsAddr, *linger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 2
	}
	defer finish(ctx)
	cfg.Metrics = metrics
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	fmt.Fprintf(os.Stderr, "idem demo: %d messages, seed %d, delivered at least once to %d worker processes that get killed; progress every second\n",
		cfg.Messages, cfg.Seed, cfg.Workers)
	rep, err := demo.Run(ctx, cfg)
	if rep != nil {
		rep.Print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 2
	}
	if !rep.OK() {
		fmt.Fprintf(os.Stderr, "demo: invariants violated: %s\n", rep.Summary())
		return 1
	}
	return 0
}
