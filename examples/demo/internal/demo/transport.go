package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/examples/payments"
	"github.com/idemkit/idem/testkit/delivery"
)

// This file holds the hooks for transports outside this package: the broker
// demo (examples/demo/brokers) delivers the run's messages through Kafka or
// NATS JetStream to worker processes of its own, and reuses everything else of
// a run here (workload, plan, projector, verification, report).

// Transport delivers a run's messages to its worker processes at least once.
// The in-process broker (broker.go) is the default; Config.Transport plugs
// another in.
type Transport interface {
	// Name says what delivers the messages, for the report.
	Name() string
	// Start launches the workers: spawn returns the command of a slot's worker
	// process (the run's executable with its role set; add to its environment),
	// killProjector kills the projector (a fifth of the kills go to it).
	Start(spawn func(slot int) (*exec.Cmd, error), killProjector func()) error
	// Deliver delivers the schedule (indexes into the run's messages, plus
	// offset) and returns once every delivery was handled or given up.
	Deliver(ctx context.Context, schedule []delivery.Delivery, offset int) error
	// Progress returns figures for the progress line.
	Progress() (delivered, acked, queued, kills int)
	// Stop stops the workers and returns what the delivery did.
	Stop() DeliveryStats
}

// inProcess is the in-process broker as a Transport.
type inProcess struct {
	cfg      Config
	messages []Message
	b        *broker
}

// newTransport returns cfg's transport, or the in-process broker.
func newTransport(cfg Config, messages []Message) (Transport, error) {
	if cfg.Transport != nil {
		return cfg.Transport(cfg, messages)
	}
	return &inProcess{cfg: cfg, messages: messages}, nil
}

func (t *inProcess) Name() string { return "the in-process broker" }

func (t *inProcess) Start(spawn func(slot int) (*exec.Cmd, error), killProjector func()) error {
	t.b = newBroker(t.cfg, t.messages, spawn)
	t.b.killProjector = killProjector
	return t.b.start()
}

func (t *inProcess) Deliver(ctx context.Context, schedule []delivery.Delivery, offset int) error {
	t.b.enqueue(schedule, offset)
	return t.b.dispatch(ctx)
}

func (t *inProcess) Progress() (delivered, acked, queued, kills int) { return t.b.progress() }
func (t *inProcess) Stop() DeliveryStats                             { return t.b.stop() }

// NewDeliveryStats returns empty delivery stats, ready to record.
func NewDeliveryStats() DeliveryStats {
	return DeliveryStats{Outcomes: map[string]int{}, outcomes: map[int]map[string]int{}, lastErr: map[int]string{}}
}

// Handled is what a worker reports of one delivery it handled.
type Handled struct {
	// Outcome is one of the outcomes the report counts ("applied", "dup-id",
	// "dup-key", "noop", "rejected", "key-reuse", "later", "retry").
	Outcome string `json:"o"`
	Err     string `json:"e,omitempty"`
	// Renumbered counts invoice numbers found taken before one was claimed.
	Renumbered int `json:"r,omitempty"`
}

// Known reports whether the outcome is known: every outcome but "retry".
func (h Handled) Known() bool { return h.Outcome != outRetry }

// Later reports whether the message was refused for now (a capture before its
// authorization): it is to be delivered again later.
func (h Handled) Later() bool { return h.Outcome == outLater }

// Record records a worker's report of one delivery of message seq, as the
// in-process broker records an acknowledgement.
func (s *DeliveryStats) Record(seq int, h Handled) {
	s.Acked++
	s.Outcomes[h.Outcome]++
	s.Renumbered += h.Renumbered
	if s.outcomes[seq] == nil {
		s.outcomes[seq] = map[string]int{}
	}
	s.outcomes[seq][h.Outcome]++
	if h.Err != "" {
		s.lastErr[seq] = h.Err
	}
}

// AddHandlerStats adds the last counters of a worker process.
func (s *DeliveryStats) AddHandlerStats(c command.Stats) { addStats(&s.Handler, c) }

// Later reports whether err refuses a command for now: its capture or
// authorization has not arrived yet, and a later delivery may succeed.
func Later(err error) bool {
	return errors.Is(err, payments.ErrNotAuthorized) || errors.Is(err, payments.ErrExceedsCaptured)
}

// Handlers are a worker process's command handlers, for a transport's worker.
type Handlers struct{ h *handlers }

// WorkerRole is what a worker process of a run is told: its slot and how many
// consumers it runs.
type WorkerRole struct{ Slot, Consumers int }

// OpenWorker opens, in a worker process started by a run (IsChild), the event
// store and command handlers its role names. close closes the store.
func OpenWorker(ctx context.Context) (h *Handlers, r WorkerRole, close func() error, err error) {
	var ro role
	if err := json.Unmarshal([]byte(os.Getenv(RoleEnv)), &ro); err != nil || ro.Kind != "worker" {
		return nil, r, nil, fmt.Errorf("demo worker: bad %s (%v)", RoleEnv, err)
	}
	store, err := openStore(ctx, ro.Backend, ro.DBPath, ro.Synchronous, nil)
	if err != nil {
		return nil, r, nil, err
	}
	hs, err := newHandlers(store, ro.Cache, nil) // a transport's workers report no metrics
	if err != nil {
		store.Close()
		return nil, r, nil, err
	}
	return &Handlers{h: hs}, WorkerRole{Slot: ro.Slot, Consumers: ro.Consumers}, store.Close, nil
}

// Handle handles one message as a worker does and returns the handler's
// answer and what the report counts of it.
func (h *Handlers) Handle(ctx context.Context, m Message) (command.Result, Handled, error) {
	res, renumbered, err := h.h.run(ctx, m)
	a := classify(res, err)
	return res, Handled{Outcome: a.Outcome, Err: a.Err, Renumbered: renumbered}, err
}

// Stats returns the handlers' counters, summed.
func (h *Handlers) Stats() command.Stats { return h.h.stats() }
