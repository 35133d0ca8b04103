package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/natsjs"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/examples/demo/internal/demo"
	"github.com/idemkit/idem/testkit/delivery"
)

// Names of the command topic (a subject prefix on NATS), its stream, and how
// long JetStream waits for a killed worker's acknowledgement.
const (
	commandTopic  = "demo-commands"
	commandStream = "DEMO"
	natsAckWait   = 2 * time.Second
)

// broker is what the transport needs of a broker: publish a message to its
// key's partition (or, for a race, to another one), and read the dead letters.
type broker interface {
	name() string
	settings() settings
	// publish sends m without waiting; done is called with the broker's answer.
	publish(m brokers.Message, partition int, done func(error))
	// flush waits for every publication's answer.
	flush(ctx context.Context) error
	// deadLetters calls f for every dead letter, from the start, until ctx ends.
	deadLetters(ctx context.Context, f func(brokers.Message)) error
	close()
}

// transport publishes the run's deliveries to a broker, runs the worker
// processes that consume them (killing them at random), learns from their
// reports what each delivery came to, and redrives dead letters refused for now.
type transport struct {
	cfg        demo.Config
	messages   []demo.Message
	b          broker
	partitions int

	spawn         func(slot int) (*exec.Cmd, error)
	killProjector func()
	stopDL        context.CancelFunc
	dlDone        chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	rng     *rand.Rand
	stats   demo.DeliveryStats
	nextID  uint64
	pending map[uint64]int  // published deliveries not yet handled: id -> message
	later   map[uint64]int  // handled "for now": awaiting their dead letter
	early   map[uint64]bool // dead letters read before their delivery's report
	retries map[int]int     // redrives per message
	delayed int             // redrives waiting for their delay
	workers []*workerProc
	closing bool
	failed  error
}

type workerProc struct {
	slot  int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	alive bool
	stats *command.Stats // the last counters it reported
	done  chan struct{}
}

func newTransport(b broker, partitions int) func(demo.Config, []demo.Message) (demo.Transport, error) {
	return func(cfg demo.Config, messages []demo.Message) (demo.Transport, error) {
		t := &transport{cfg: cfg, messages: messages, b: b, partitions: partitions,
			rng: rand.New(rand.NewPCG(cfg.Seed, 0xb0b)), stats: demo.NewDeliveryStats(),
			pending: map[uint64]int{}, later: map[uint64]int{}, early: map[uint64]bool{}, retries: map[int]int{}}
		t.cond = sync.NewCond(&t.mu)
		return t, nil
	}
}

func (t *transport) Name() string { return t.b.name() }

// Start launches the workers and the dead-letter reader.
func (t *transport) Start(spawn func(slot int) (*exec.Cmd, error), killProjector func()) error {
	t.spawn, t.killProjector = spawn, killProjector
	ctx, cancel := context.WithCancel(context.Background())
	t.stopDL, t.dlDone = cancel, make(chan struct{})
	go func() {
		defer close(t.dlDone)
		if err := t.b.deadLetters(ctx, t.deadLetter); err != nil && ctx.Err() == nil {
			t.fail(fmt.Errorf("read dead letters: %w", err))
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.workers = make([]*workerProc, t.cfg.Workers)
	for slot := range t.workers {
		if err := t.startWorkerLocked(slot); err != nil {
			return err
		}
	}
	return nil
}

func (t *transport) startWorkerLocked(slot int) error {
	cmd, err := t.spawn(slot)
	if err != nil {
		return err
	}
	s, _ := json.Marshal(t.b.settings())
	cmd.Env = append(cmd.Env, brokerEnv+"="+string(s))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start worker %d: %w", slot, err)
	}
	w := &workerProc{slot: slot, cmd: cmd, stdin: stdin, alive: true, done: make(chan struct{})}
	t.workers[slot] = w
	go t.read(w, stdout)
	return nil
}

// read consumes a worker's reports until it exits or is killed, then restarts
// it. What it had not acknowledged the broker delivers again.
func (t *transport) read(w *workerProc, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r report
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue // a line cut short by a kill
		}
		t.mu.Lock()
		if r.Stats != nil {
			w.stats = r.Stats
		}
		if r.Handled != nil {
			t.handledLocked(r)
		}
		t.mu.Unlock()
	}
	_ = w.cmd.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	w.alive = false
	if w.stats != nil {
		t.stats.AddHandlerStats(*w.stats)
	}
	close(w.done)
	if !t.closing {
		t.stats.Restarts++
		if err := t.startWorkerLocked(w.slot); err != nil {
			t.failLocked(fmt.Errorf("restart worker %d: %w", w.slot, err))
		}
	}
	t.cond.Broadcast()
}

// handledLocked records a worker's report of one delivery, and sometimes kills
// a worker (or the projector): kills land at moments set by the reports, in the
// middle of other workers' commands.
func (t *transport) handledLocked(r report) {
	h := *r.Handled
	t.stats.Record(r.Seq, h)
	if h.Known() {
		if _, ok := t.pending[r.Delivery]; ok {
			delete(t.pending, r.Delivery)
			if h.Later() {
				t.later[r.Delivery] = r.Seq // its dead letter will be redriven
				if t.early[r.Delivery] {
					// The broker was faster than the worker's pipe.
					delete(t.early, r.Delivery)
					t.redriveLocked(r.Delivery)
				}
			}
		} else if _, ok := t.later[r.Delivery]; !ok {
			t.stats.RedeliveredAfterKill++ // handled again: delivered again after a kill
		}
		if !h.Later() {
			delete(t.later, r.Delivery) // handled by a later copy: no redrive to wait for
		}
	}
	if t.cfg.CrashRate > 0 && t.rng.Float64() < t.cfg.CrashRate {
		if t.killProjector != nil && t.rng.IntN(5) == 0 {
			t.killProjector()
		} else {
			t.killRandomLocked()
		}
	}
	t.cond.Broadcast()
}

func (t *transport) killRandomLocked() {
	var live []*workerProc
	for _, w := range t.workers {
		if w != nil && w.alive {
			live = append(live, w)
		}
	}
	if len(live) == 0 {
		return
	}
	w := live[t.rng.IntN(len(live))]
	if w.cmd.Process.Signal(syscall.SIGKILL) == nil {
		w.alive = false
		t.stats.Kills++
	}
}

// deadLetter redrives a dead letter refused for now (see redriveLocked); other
// refusals are final.
func (t *transport) deadLetter(m brokers.Message) {
	reason, _ := m.Header(brokers.HeaderDeadLetterReason)
	id, _ := m.Header(headerDelivery)
	did, _ := strconv.ParseUint(id, 10, 64)
	if reason != reasonRetryLater {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.later[did]; ok {
		t.redriveLocked(did)
	} else if _, ok := t.pending[did]; ok {
		t.early[did] = true // its report is still in the worker's pipe
	}
}

// redriveLocked publishes the message of a delivery refused for now again,
// after a delay that grows with each redrive, until cfg.MaxAttempts; then the
// message is given up. A copy of a dead letter already redriven is ignored.
func (t *transport) redriveLocked(did uint64) {
	seq := t.later[did]
	delete(t.later, did)
	t.retries[seq]++
	if n := t.retries[seq]; n < t.cfg.MaxAttempts {
		t.stats.RetriesAfterError++
		t.delayed++
		time.AfterFunc(time.Duration(10<<min(n, 4))*time.Millisecond, func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.delayed--
			t.publishLocked(seq, delivery.Retry, false)
			t.cond.Broadcast()
		})
	} else if n == t.cfg.MaxAttempts {
		t.stats.DeadLettered = append(t.stats.DeadLettered, seq)
	}
	t.cond.Broadcast()
}

// Deliver publishes the schedule, then waits until every publication was
// handled, every redrive published and handled, or given up.
func (t *transport) Deliver(ctx context.Context, schedule []delivery.Delivery, offset int) error {
	t.mu.Lock()
	for _, d := range schedule {
		seq := d.Index + offset
		t.publishLocked(seq, d.Kind, false)
		if d.Race && t.partitions > 1 {
			// A copy in another partition, as a replay job with another
			// partitioner makes: two workers handle it at about the same time.
			t.stats.Races++
			t.publishLocked(seq, d.Kind, true)
		}
	}
	t.mu.Unlock()
	if err := t.b.flush(ctx); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { t.mu.Lock(); t.cond.Broadcast(); t.mu.Unlock() })
	defer stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.pending) > 0 || len(t.later) > 0 || t.delayed > 0 {
		if t.failed != nil {
			return t.failed
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%d deliveries unhandled, %d awaiting redrive: %w", len(t.pending), len(t.later)+t.delayed, err)
		}
		t.cond.Wait()
	}
	return t.failed
}

// publishLocked publishes message seq as a new delivery.
func (t *transport) publishLocked(seq int, kind delivery.Kind, race bool) {
	m := t.messages[seq]
	t.nextID++
	id := t.nextID
	t.pending[id] = seq
	t.stats.Delivered++
	switch kind {
	case delivery.Original:
		t.stats.Originals++
	case delivery.Duplicate:
		t.stats.Duplicates++
	case delivery.Replay:
		t.stats.Replays++
	}
	value, _ := json.Marshal(m)
	key := m.PaymentID
	if m.Shipment != nil {
		key = m.Shipment.ShipmentRef
	}
	msg := brokers.Message{Topic: commandTopic, Key: key, Value: value, Headers: []brokers.Header{
		{Key: brokers.HeaderIdempotencyKey, Value: m.CommandID},
		{Key: headerDelivery, Value: strconv.FormatUint(id, 10)},
		{Key: headerSeq, Value: strconv.Itoa(seq)},
	}}
	p := natsjs.Partition(key, t.partitions)
	if race {
		p = (p + 1) % t.partitions
	}
	t.b.publish(msg, p, func(err error) {
		if err != nil {
			t.fail(fmt.Errorf("publish message %d: %w", seq, err))
		}
	})
}

func (t *transport) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failLocked(err)
}

func (t *transport) failLocked(err error) {
	if t.failed == nil {
		t.failed = err
	}
	t.cond.Broadcast()
}

// Progress returns figures for the progress line.
func (t *transport) Progress() (delivered, acked, queued, kills int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats.Delivered, t.stats.Acked, len(t.pending), t.stats.Kills
}

// Stop closes every worker's input, so that each stops after its messages in
// flight and commits, waits for them, and closes the broker.
func (t *transport) Stop() demo.DeliveryStats {
	t.mu.Lock()
	t.closing = true
	workers := append([]*workerProc(nil), t.workers...)
	for _, w := range workers {
		if w != nil {
			_ = w.stdin.Close()
		}
	}
	t.mu.Unlock()
	for _, w := range workers {
		if w != nil {
			<-w.done
		}
	}
	t.stopDL()
	<-t.dlDone
	t.b.close()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}
