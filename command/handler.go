package command

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/internal/telemetry"
	"github.com/idemkit/idem/reservation"
)

// Handler handles the commands of one kind of aggregate: the decider's state S,
// commands C and events E. It is safe for concurrent use: it runs the commands of
// one aggregate one at a time and those of different aggregates in parallel;
// several handlers (in one process or many) may handle commands for the same
// aggregates at once (G4).
type Handler[S, C, E any] struct {
	store eventstore.Store
	// finder finds a command's events by id (G3) when the store can; nil
	// otherwise, or after it answered errors.ErrUnsupported.
	finder  atomic.Pointer[eventstore.EventFinder]
	decider aggregate.Decider[S, C, E]
	codec   *aggregate.Codec[C, E]
	cfg     config
	log     *slog.Logger
	cache   *aggregateCache[S]
	turns   streamTurns[S, C]
	tel     *instruments
	stats   counters
}

// NewHandler returns a Handler that appends to store, decides with d and encodes
// with codec. A nil store or codec, an invalid decider or an invalid option fails
// here, with an error matching ErrInvalidHandler, rather than on the first command.
func NewHandler[S, C, E any](store eventstore.Store, d aggregate.Decider[S, C, E], codec *aggregate.Codec[C, E], opts ...Option) (*Handler[S, C, E], error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	switch {
	case store == nil:
		return nil, invalidOption("nil event store")
	case codec == nil:
		return nil, invalidOption("nil codec")
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHandler, err)
	}
	// A decider without keys claims nothing: it needs no reservations.
	if cfg.reservations == nil && d.Keys != nil {
		ropts := []reservation.Option{reservation.WithClock(cfg.now)}
		if cfg.telemetry.Meter != nil {
			ropts = append(ropts, reservation.WithMeterProvider(cfg.telemetry.Meter))
		}
		r, err := reservation.New(store, ropts...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidHandler, err)
		}
		cfg.reservations = r
	}
	if s, ok := store.(eventstore.SnapshotStore); ok && cfg.snapshots == nil && !cfg.noSnapshots {
		cfg.snapshots = s
	}
	h := &Handler[S, C, E]{store: store, decider: d, codec: codec, cfg: cfg, log: cfg.logger,
		cache: newAggregateCache[S](cfg.cacheSize), tel: newInstruments(cfg.telemetry, d.Category)}
	if f, ok := store.(eventstore.EventFinder); ok {
		h.finder.Store(&f)
	}
	return h, nil
}

// Stats returns a snapshot of the handler's counters (G12).
func (h *Handler[S, C, E]) Stats() Stats { return h.stats.snapshot() }

// Stream returns the stream of the aggregate with the given id.
func (h *Handler[S, C, E]) Stream(aggregateID string) (string, error) {
	return aggregate.StreamName(h.decider.Category, aggregateID)
}

// Reservations returns where the handler claims Decider.Keys (nil when the decider
// has none), for releasing keys that changed.
func (h *Handler[S, C, E]) Reservations() *reservation.Reservations { return h.cfg.reservations }

// Loaded is an aggregate as Load read it.
type Loaded[S any] struct {
	// Stream is the aggregate's stream.
	Stream string
	// State is the aggregate's state: Decider.Initial() when the stream does not
	// exist.
	State S
	// Exists is false when the stream has no events yet.
	Exists bool
	// Revision is the revision of the stream's last event; 0 when !Exists.
	Revision uint64
}

// Expected is the expected revision of an append that follows what was loaded:
// eventstore.NoStream() or eventstore.Exact(Revision).
func (l Loaded[S]) Expected() eventstore.ExpectedRevision {
	if !l.Exists {
		return eventstore.NoStream()
	}
	return eventstore.Exact(l.Revision)
}

// Load reads the aggregate's state from the store (and snapshot), bypassing the
// cache.
func (h *Handler[S, C, E]) Load(ctx context.Context, aggregateID string) (Loaded[S], error) {
	stream, err := h.Stream(aggregateID)
	if err != nil {
		return Loaded[S]{}, err
	}
	if err := ctx.Err(); err != nil {
		return Loaded[S]{}, fmt.Errorf("load %s: %w", stream, err)
	}
	a, err := h.load(ctx, stream)
	if err == nil {
		err = h.fold(a)
	}
	if err != nil {
		return Loaded[S]{}, err
	}
	return Loaded[S]{Stream: stream, State: a.state, Exists: a.exists, Revision: a.revision}, nil
}

// Processed returns the aggregate's processed command set within the dedupe window,
// in recorded order, read from the store (and snapshot).
func (h *Handler[S, C, E]) Processed(ctx context.Context, aggregateID string) ([]ProcessedCommand, error) {
	stream, err := h.Stream(aggregateID)
	if err != nil {
		return nil, err
	}
	a, err := h.load(ctx, stream)
	if err != nil {
		return nil, err
	}
	return a.set.list(), nil
}

// Handle handles one command: validate, load, dedupe, decide, claim keys, append,
// retry on conflict. See the package doc for the guarantee each step keeps.
//
// It returns a Result on success and for duplicates (Duplicate true); a
// *RejectedError for a domain rejection; *IdempotencyKeyReusedError for a reused
// id; *RetriesExhaustedError when conflicts outlast the budget;
// *InvalidCommandError for bad input; *idem.PanicError when the decider panicked;
// a *reservation.ClaimedError when a key belongs to another aggregate. Only a
// successful append writes; every other outcome writes nothing (except the markers
// of WithRecordedRejections and WithRecordedNoOps, and reservation claims).
func (h *Handler[S, C, E]) Handle(ctx context.Context, c Command[C]) (res Result, err error) {
	start := time.Now()
	ctx, span := h.tel.handleSpan(ctx, c.ID, c.AggregateID)
	attempts := 0
	defer func() {
		// One outcome per call, the same in Stats and in the metrics (G12).
		outcome := outcomeOf(res, err)
		h.stats.count(outcome)
		h.tel.endHandle(ctx, span, start, outcome, res, err, attempts)
	}()
	cl, err := h.prepare(c)
	if err != nil {
		return Result{}, err
	}
	h.stats.handled.Add(1) // now: a call queued behind others shows at once
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("handle command %s: %w", quote.Q(c.ID), err)
	}
	cl.ctx = ctx
	cl.meta.Trace = telemetry.Inject(ctx) // a projection's span links back to this one
	// G4 within one handler: the commands of one stream take turns (streamlock.go),
	// so they never conflict with each other, and a second delivery of a command
	// finds it in the processed set the first one left. Commands queued behind one
	// another are decided in order and written together (runBatch).
	res, err = h.turns.join(ctx, cl, h.maxBatch(), h.runBatch)
	attempts = cl.failed + 1
	return res, err
}

// prepare validates c and computes what every attempt needs: the stream, the
// payload's fingerprint and the metadata its events will carry.
func (h *Handler[S, C, E]) prepare(c Command[C]) (*call[C], error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	invalid := func(field string, err error) error {
		return &InvalidCommandError{CommandID: quote.Trunc(c.ID), Field: field, Err: err}
	}
	stream, err := h.Stream(c.AggregateID)
	if err != nil {
		return nil, invalid("AggregateID", err)
	}
	ctype, err := h.codec.CommandName(c.Payload)
	if err != nil {
		return nil, invalid("Payload", err)
	}
	fp, err := fingerprint(h.codec, c.Payload, h.cfg.maxAppendSize)
	if err != nil {
		return nil, invalid("Payload", err)
	}
	return &call[C]{cmd: c, stream: stream, meta: Metadata{CommandID: c.ID, Fingerprint: fp, CommandType: ctype,
		CorrelationID: c.CorrelationID, CausationID: c.CausationID, User: c.Metadata}}, nil
}
