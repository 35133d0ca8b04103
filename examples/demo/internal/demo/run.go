package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/testkit/delivery"
)

// Run runs the demo: it generates the workload, delivers it at least once to
// worker processes that it kills and restarts, lets the projector (also killed
// now and then) build the read models and send the notifications, rebuilds the
// read models from history beside the live ones, and checks every invariant. The
// returned Report lists the violations; err is for runs that could not be made.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	exe := cfg.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("demo: find own executable to start workers: %w", err)
		}
	}
	if err := removeFiles(cfg); err != nil {
		return nil, err
	}
	started := time.Now()
	rep := &Report{Config: cfg}
	wl, all, mainSchedule, lateSchedule := planRun(cfg)
	rep.Workload = wl
	rep.Planned = len(mainSchedule) + len(lateSchedule)

	// The run's own components (the final catch-up, the rebuild) record their
	// metrics to mp; the children send theirs (metrics_hub.go).
	hub := cfg.Metrics.collector()
	mp := hub.startRun()
	// The parent opens the store first, so the schema exists before the children race.
	store, err := openStore(ctx, cfg.Backend, cfg.DBPath, cfg.Synchronous, mp)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	proj, b, err := startProcesses(cfg, exe, hub, all)
	if err != nil {
		return nil, err
	}
	rep.Transport = b.Name()

	stopProgress := startProgress(cfg, b, proj, store, started)
	derr := b.Deliver(ctx, mainSchedule, 0)
	if derr == nil {
		// The planted key reuses come last: a client retrying long after, with a
		// changed payload, under an id that is by now recorded.
		derr = b.Deliver(ctx, lateSchedule, len(wl.Messages))
	}
	rep.Broker = b.Stop()
	rep.DeliveryTime = time.Since(started)
	waitProjector(ctx, proj, 15*time.Second)
	stopProgress()
	rep.ProjectorKills, rep.ProjectorRestarts, rep.ProjectorApplied = proj.stop()
	if derr != nil {
		return rep, fmt.Errorf("demo: deliver messages: %w", derr)
	}

	if err := finishReadModels(ctx, cfg, store, rep, mp); err != nil {
		return rep, err
	}
	if err := verify(ctx, cfg, store, wl, all, rep); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(started)
	return rep, nil
}

// planRun generates the run's workload and its delivery schedules: the messages
// in order, then the late ones (the planted key reuses).
func planRun(cfg Config) (wl Workload, all []Message, main, late []delivery.Delivery) {
	wl = Generate(cfg.Seed, cfg.Messages, cfg.TwoPathRate, cfg.KeyReuseRate)
	all = append(append([]Message(nil), wl.Messages...), wl.Late...)
	for i := range all {
		all[i].Seq = i
	}
	plan := delivery.Plan{Seed: cfg.Seed, DuplicateRate: cfg.DuplicateRate, ReorderWindow: cfg.ReorderWindow,
		ReplayRate: cfg.ReplayRate, RaceRate: cfg.RaceRate}
	main = plan.Schedule(len(wl.Messages))
	plan.Seed++
	late = plan.Schedule(len(wl.Late))
	return wl, all, main, late
}

// startProcesses starts the projector process and the transport with its worker
// processes, each a run of exe in the role the environment gives it.
func startProcesses(cfg Config, exe string, hub *metricsHub, all []Message) (*projectorProc, Transport, error) {
	spawn := func(r role) (*exec.Cmd, error) {
		cmd := exec.Command(exe)
		cmd.Env = append(append(os.Environ(), cfg.Env...), r.env())
		return cmd, nil
	}
	base := role{Backend: cfg.Backend, DBPath: cfg.DBPath, Synchronous: cfg.Synchronous, Consumers: cfg.Consumers,
		Cache: cfg.Cache}
	proj := &projectorProc{metrics: hub, spawn: func() (*exec.Cmd, error) {
		r := base
		r.Kind, r.Metrics = "projector", hub != nil
		return spawn(r)
	}}
	if err := proj.start(); err != nil {
		return nil, nil, err
	}
	spawnWorker := func(slot int) (*exec.Cmd, error) {
		r := base
		// Only the in-process broker reads a worker's metrics (Config.Metrics).
		r.Kind, r.Slot, r.Metrics = "worker", slot, hub != nil && cfg.Transport == nil
		return spawn(r)
	}
	b, err := newTransport(cfg, all)
	if err == nil {
		err = b.Start(spawnWorker, proj.kill)
	}
	if err != nil {
		proj.stop()
		return nil, nil, err
	}
	return proj, b, nil
}

// removeFiles deletes what an earlier run left at the run's paths.
func removeFiles(cfg Config) error {
	var paths []string
	for _, p := range []string{cfg.DBPath + ".read", cfg.DBPath + ".mail"} {
		paths = append(paths, p, p+"-wal", p+"-shm")
	}
	if cfg.Backend == "sqlite" {
		paths = append(paths, cfg.DBPath, cfg.DBPath+"-wal", cfg.DBPath+"-shm")
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("demo: remove %s from an earlier run: %w", p, err)
		}
	}
	return nil
}

// waitProjector waits until the projector reports that it is live with no lag,
// or until limit.
func waitProjector(ctx context.Context, p *projectorProc, limit time.Duration) {
	deadline := time.Now().Add(limit)
	since := time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		st := p.snapshot()
		// Lag is refreshed every 250ms: wait for a figure taken after the workers stopped.
		if st.CaughtUp && st.Lag == 0 && time.Since(since) > 600*time.Millisecond {
			return
		}
	}
}

// finishReadModels completes the live read models and notifications in this
// process (whatever the killed projector had not done yet), reads them, then
// rebuilds the read models from position zero as version 2 beside version 1,
// switches to it (blue/green) and reads them again. Its runners record their
// metrics to mp (nil: the OTel global).
func finishReadModels(ctx context.Context, cfg Config, store eventstore.Store, rep *Report, mp metric.MeterProvider) error {
	rs, err := openReadSide(ctx, store, cfg.DBPath, mp)
	if err != nil {
		return err
	}
	defer rs.Close()
	readDB, mailDB, mail, live := rs.readDB, rs.mailDB, rs.mail, rs.runner
	if err := live.CatchUp(ctx); err != nil {
		return fmt.Errorf("demo: finish live read models: %w", err)
	}
	for _, s := range live.Stats() {
		rep.FinalCatchUp += s.Applied
	}
	if rep.Live, err = readModels(ctx, readDB); err != nil {
		return err
	}
	if rep.Mail, err = mail.Stats(ctx); err != nil {
		return err
	}
	if rep.MailKeys, err = mailKeys(ctx, mailDB); err != nil {
		return err
	}

	t0 := time.Now()
	// New code: built as a new generation beside the active one, then switched in.
	rebuild, err := rs.target.runner(1, meteredRunner(mp)...)
	if err != nil {
		return err
	}
	if err := rebuild.CatchUp(ctx); err != nil {
		return fmt.Errorf("demo: rebuild read models: %w", err)
	}
	rep.RebuildTime = time.Since(t0)
	for _, s := range rebuild.Stats() {
		rep.RebuildApplied += s.Applied
	}
	if rep.Rebuilt, err = readModels(ctx, readDB); err != nil {
		return err
	}
	return nil
}

// startProgress prints a line of progress every cfg.ProgressEvery until the
// returned function is called.
func startProgress(cfg Config, b Transport, p *projectorProc, store eventstore.Store, started time.Time) func() {
	if cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(cfg.ProgressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				printProgress(cfg.Progress, b, p, started)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func printProgress(w io.Writer, b Transport, p *projectorProc, started time.Time) {
	delivered, acked, queued, kills := b.Progress()
	st := p.snapshot()
	fmt.Fprintf(w, "  %5.1fs  delivered %7d  acknowledged %7d  queued %6d  workers killed %3d  projector killed %2d, lag %d events\n",
		time.Since(started).Seconds(), delivered, acked, queued, kills, p.killCount(), st.Lag)
}
