// Command brokers runs idem's end-to-end demo with a real broker in front: the
// demo's at-least-once plan (duplicates, replays, reorders, races) is published
// to Kafka or NATS JetStream, run in this process (franz-go's kfake cluster, or
// nats-server itself), and the worker processes are broker consumers, through
// idem's inbox (package brokers), that get SIGKILLed at random and restarted.
// Commands refused for now are dead-lettered and redriven from the dead-letter
// topic. The same invariants are checked and the same report printed.
//
//	go -C examples/demo/brokers run . -broker kafka
//	go -C examples/demo/brokers run . -broker nats -messages 5000
//
// It exits with status 1 naming the invariant if any broke. See docs/brokers.md.
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
		if os.Getenv(brokerEnv) != "" {
			if err := runWorker(ctx); err != nil {
				fmt.Fprintf(os.Stderr, "broker worker: %v\n", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
		os.Exit(demo.ChildMain(ctx))
	}
	os.Exit(run(ctx))
}

func run(ctx context.Context) int {
	cfg := demo.DefaultConfig()
	cfg.DBPath = cfg.DBPath + ".brokers"
	which := flag.String("broker", "kafka", `the broker in front: "kafka" or "nats"`)
	partitions := flag.Int("partitions", 8, "partitions of the command topic (subject partitions on NATS)")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the workload, the delivery schedule and the kills")
	flag.IntVar(&cfg.Messages, "messages", cfg.Messages, "number of distinct messages")
	flag.Float64Var(&cfg.DuplicateRate, "dup-rate", cfg.DuplicateRate, "probability that a delivery is followed by another copy")
	flag.Float64Var(&cfg.CrashRate, "crash-rate", cfg.CrashRate, "probability, after each handled delivery, of killing a worker (SIGKILL)")
	flag.StringVar(&cfg.DBPath, "db", cfg.DBPath, "event store file (read models in DB.read, mail in DB.mail); replaced")
	flag.StringVar(&cfg.Synchronous, "sync", cfg.Synchronous, "SQLite synchronous mode: FULL or NORMAL (see docs/backends.md)")
	flag.IntVar(&cfg.Workers, "workers", cfg.Workers, "worker processes (broker consumers)")
	flag.IntVar(&cfg.Cache, "cache", cfg.Cache, "aggregates cached by each command handler (0: none)")
	quiet := flag.Bool("quiet", false, "no progress lines")
	flag.Parse()
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	if *partitions < 1 {
		fmt.Fprintln(os.Stderr, "demo: -partitions must be at least 1")
		return 2
	}
	var b broker
	var err error
	switch *which {
	case "kafka":
		b, err = startKafka(*partitions)
	case "nats":
		b, err = startNATS(*partitions)
	default:
		err = fmt.Errorf("-broker %q: want kafka or nats", *which)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 2
	}
	cfg.Transport = newTransport(b, *partitions)
	fmt.Fprintf(os.Stderr, "idem demo through %s: %d messages, seed %d, %d worker processes that get killed; progress every second\n",
		b.name(), cfg.Messages, cfg.Seed, cfg.Workers)
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
