package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/testkit/delivery"
)

// broker is the parent's at-least-once queue. It hands deliveries to worker
// processes, keeps each one in flight until the worker acknowledges it, kills
// workers with SIGKILL at random moments, restarts them, and puts whatever a dead
// worker had in flight back at the front of the queue.
type broker struct {
	cfg   Config
	spawn func(slot int) (*exec.Cmd, error)
	// killProjector, if set, kills the projector process; a fifth of the kills go
	// to it.
	killProjector func()
	messages      []Message
	rng           *rand.Rand // guarded by mu

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []queued
	workers []*workerProc
	nextID  uint64
	delayed int // redeliveries waiting for their delay
	closing bool
	stats   DeliveryStats
	// failures counts the failed attempts of each message (index into messages).
	failures map[int]int
}

type queued struct {
	idx  int
	kind delivery.Kind
	// redelivered is true when the delivery is back because its worker died.
	redelivered bool
}

// DeliveryStats is what a delivery did: the in-process broker's, or a Transport's.
type DeliveryStats struct {
	Delivered, Acked                        int
	Originals, Duplicates, Replays, Races   int
	RetriesAfterError, RedeliveredAfterKill int
	Kills, Restarts                         int
	Outcomes                                map[string]int
	Renumbered                              int
	DeadLettered                            []int
	// outcomes counts, per message, the outcomes acknowledged for it; lastErr
	// keeps the last error reported for it.
	outcomes map[int]map[string]int
	lastErr  map[int]string
	// Handler counters, summed over every worker process that ran (the last
	// snapshot each one sent before it exited or was killed).
	Handler command.Stats
}

// workerProc is one running worker process.
type workerProc struct {
	slot     int
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	enc      *json.Encoder
	inFlight map[uint64]queued
	alive    bool
	stats    command.Stats
	// metrics keeps the metrics the process sent with its last stats (nil when
	// the run serves none).
	metrics *hubInstance
	done    chan struct{}
}

func newBroker(cfg Config, messages []Message, spawn func(slot int) (*exec.Cmd, error)) *broker {
	b := &broker{
		cfg: cfg, spawn: spawn, messages: messages,
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0xb0b)),
		failures: map[int]int{},
	}
	b.stats.Outcomes = map[string]int{}
	b.stats.outcomes = map[int]map[string]int{}
	b.stats.lastErr = map[int]string{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// enqueue adds a schedule to the back of the queue. A racing delivery is queued
// twice in a row; the dispatcher hands consecutive deliveries to different
// workers, so both copies are handled at about the same instant.
func (b *broker) enqueue(schedule []delivery.Delivery, offset int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range schedule {
		q := queued{idx: d.Index + offset, kind: d.Kind}
		b.queue = append(b.queue, q)
		if d.Race && b.cfg.Workers > 1 {
			b.stats.Races++
			b.queue = append(b.queue, q)
		}
	}
	b.cond.Broadcast()
}

// start launches the worker processes.
func (b *broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.workers = make([]*workerProc, b.cfg.Workers)
	for slot := range b.workers {
		if err := b.startWorkerLocked(slot); err != nil {
			return err
		}
	}
	return nil
}

func (b *broker) startWorkerLocked(slot int) error {
	cmd, err := b.spawn(slot)
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("start worker %d: %w", slot, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("start worker %d: %w", slot, err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start worker %d: %w", slot, err)
	}
	w := &workerProc{slot: slot, cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin),
		inFlight: map[uint64]queued{}, alive: true, done: make(chan struct{}),
		metrics: b.cfg.Metrics.collector().instance(fmt.Sprintf("worker %d (pid %d)", slot, cmd.Process.Pid))}
	b.workers[slot] = w
	go b.read(w, stdout)
	return nil
}

// read consumes a worker's reports until its output ends (exit or kill).
func (b *broker) read(w *workerProc, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // a line cut short by a kill
		}
		w.metrics.record(r.Metrics) // taken with r.Stats: both or neither
		b.mu.Lock()
		if r.Stats != nil {
			w.stats = *r.Stats
		}
		if r.Ack != nil {
			b.ackLocked(w, *r.Ack)
		}
		b.mu.Unlock()
	}
	_ = w.cmd.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	w.alive = false
	addStats(&b.stats.Handler, w.stats)
	// Whatever the worker had not acknowledged goes back to the front of the queue:
	// at-least-once delivery across a crash.
	var back []queued
	for _, q := range w.inFlight {
		q.redelivered = true
		back = append(back, q)
	}
	b.stats.RedeliveredAfterKill += len(back)
	b.queue = append(back, b.queue...)
	close(w.done)
	if !b.closing {
		b.stats.Restarts++
		if err := b.startWorkerLocked(w.slot); err != nil {
			fmt.Fprintf(os.Stderr, "demo: restart worker %d: %v\n", w.slot, err)
		}
	}
	b.cond.Broadcast()
}

// ackLocked records one acknowledgement, requeues what must be tried again, and
// sometimes kills a worker: kills happen at moments set by the acknowledgement
// stream, so they land in the middle of other workers' commands.
func (b *broker) ackLocked(w *workerProc, a ack) {
	q, ok := w.inFlight[a.ID]
	if !ok {
		return
	}
	delete(w.inFlight, a.ID)
	b.stats.Acked++
	b.stats.Outcomes[a.Outcome]++
	b.stats.Renumbered += a.Renumbered
	if b.stats.outcomes[q.idx] == nil {
		b.stats.outcomes[q.idx] = map[string]int{}
	}
	b.stats.outcomes[q.idx][a.Outcome]++
	if a.Err != "" {
		b.stats.lastErr[q.idx] = a.Err
	}
	switch a.Outcome {
	case outLater, outRetry:
		b.failures[q.idx]++
		if n := b.failures[q.idx]; n < b.cfg.MaxAttempts {
			// Redelivered after a delay that grows with each failure, as brokers
			// do, so that what it waits for (an authorization, a capture) can land.
			b.stats.RetriesAfterError++
			b.delayed++
			time.AfterFunc(time.Duration(10<<min(n, 4))*time.Millisecond, func() {
				b.mu.Lock()
				defer b.mu.Unlock()
				b.delayed--
				b.queue = append(b.queue, queued{idx: q.idx, kind: delivery.Retry})
				b.cond.Broadcast()
			})
		} else if b.failures[q.idx] == b.cfg.MaxAttempts {
			b.stats.DeadLettered = append(b.stats.DeadLettered, q.idx)
		}
	}
	if b.cfg.CrashRate > 0 && b.rng.Float64() < b.cfg.CrashRate {
		if b.killProjector != nil && b.rng.IntN(5) == 0 {
			b.killProjector()
		} else {
			b.killRandomLocked()
		}
	}
	b.cond.Broadcast()
}

// killRandomLocked sends SIGKILL to a random live worker.
func (b *broker) killRandomLocked() {
	var live []*workerProc
	for _, w := range b.workers {
		if w != nil && w.alive {
			live = append(live, w)
		}
	}
	if len(live) == 0 {
		return
	}
	w := live[b.rng.IntN(len(live))]
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err == nil {
		w.alive = false // no more deliveries to it; read() requeues its in-flight work
		b.stats.Kills++
	}
}

// dispatch hands queued deliveries to live workers, round robin, keeping at most
// cfg.Window in flight per worker, until the queue is empty and nothing is in
// flight (or ctx ends).
func (b *broker) dispatch(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	next := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(b.queue) == 0 {
			if b.inFlightLocked() == 0 && b.delayed == 0 {
				return nil
			}
			b.cond.Wait()
			continue
		}
		var target *workerProc
		for i := range b.workers {
			w := b.workers[(next+i)%len(b.workers)]
			if w != nil && w.alive && len(w.inFlight) < b.cfg.Window {
				target = w
				next = (next + i + 1) % len(b.workers)
				break
			}
		}
		if target == nil {
			b.cond.Wait()
			continue
		}
		q := b.queue[0]
		b.queue = b.queue[1:]
		b.nextID++
		id := b.nextID
		target.inFlight[id] = q
		b.stats.Delivered++
		switch q.kind {
		case delivery.Original:
			b.stats.Originals++
		case delivery.Duplicate:
			b.stats.Duplicates++
		case delivery.Replay:
			b.stats.Replays++
		}
		if err := target.enc.Encode(handoff{ID: id, Msg: b.messages[q.idx]}); err != nil {
			// The worker is dying: its reader requeues what it had in flight.
			target.alive = false
		}
	}
}

func (b *broker) inFlightLocked() int {
	n := 0
	for _, w := range b.workers {
		if w != nil {
			n += len(w.inFlight)
		}
	}
	return n
}

// progress returns a snapshot for the progress line.
func (b *broker) progress() (delivered, acked, queued, kills int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats.Delivered, b.stats.Acked, len(b.queue), b.stats.Kills
}

// stop closes every worker's input, so that each finishes what it holds and exits,
// and waits for them.
func (b *broker) stop() DeliveryStats {
	b.mu.Lock()
	b.closing = true
	workers := append([]*workerProc(nil), b.workers...)
	for _, w := range workers {
		if w != nil {
			_ = w.stdin.Close()
		}
	}
	b.mu.Unlock()
	for _, w := range workers {
		if w != nil {
			<-w.done
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// addStats adds s to sum, field by field.
func addStats(sum *command.Stats, s command.Stats) {
	sum.Handled += s.Handled
	sum.Applied += s.Applied
	sum.DuplicatesByID += s.DuplicatesByID
	sum.DuplicatesByKey += s.DuplicatesByKey
	sum.KeyReused += s.KeyReused
	sum.ConflictsRetried += s.ConflictsRetried
	sum.RetriesExhausted += s.RetriesExhausted
	sum.Rejected += s.Rejected
	sum.NoOps += s.NoOps
	sum.Invalid += s.Invalid
	sum.CacheHits += s.CacheHits
	sum.Loads += s.Loads
	sum.SnapshotsSaved += s.SnapshotsSaved
	sum.CatchUps += s.CatchUps
	sum.EventsCaughtUp += s.EventsCaughtUp
	sum.Lookups += s.Lookups
}
