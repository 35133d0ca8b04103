package command

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/idemkit/idem/eventstore"
)

// maxBatchCommands is how many queued commands of one stream a handler decides in
// a row and writes in one append.
const maxBatchCommands = 64

// maxBatch is the batch limit of this handler: 1 when the decider claims keys
// (each command's claims are settled with its own append, G5).
func (h *Handler[S, C, E]) maxBatch() int {
	if h.decider.Keys != nil {
		return 1
	}
	return maxBatchCommands
}

// runBatch runs commands queued on one stream: one on its own (run), several
// decided in order on the evolving state and written in one append (runMany).
func (h *Handler[S, C, E]) runBatch(ctx context.Context, turn *streamTurn[S, C], batch []*call[C]) {
	if len(batch) == 1 {
		batch[0].finish(h.run(ctx, turn, batch[0]))
		return
	}
	ctx, stop := batchContext(batch)
	defer stop()
	h.runMany(ctx, turn, batch)
}

// batchContext is done when every call of the batch has given up, not when the
// first has: one caller's deadline must not fail the others' commands.
func batchContext[C any](batch []*call[C]) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, c := range batch {
		stops[i] = context.AfterFunc(c.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// runMany handles the hot aggregate's queue (P8 in docs/benchmarks.md): the
// commands are decided one after another on the evolving state, each with its own
// dedupe check, decision and metadata, and those that write are appended together
// with one expected revision (G3): one round trip and one commit for the lot. A
// rejection or a duplicate is answered on its own and does not hold the others
// back. A conflict catches the aggregate up and plans again; an append the store
// answers as a replay, or cannot say, is settled command by command (run).
func (h *Handler[S, C, E]) runMany(ctx context.Context, turn *streamTurn[S, C], open []*call[C]) {
	stream := open[0].stream
	a, fresh, err := h.acquire(ctx, turn, stream)
	for len(open) > 0 {
		if err != nil {
			finishAll(open, err)
			return
		}
		var p batchPlan[S, C, E]
		if p, err = h.plan(ctx, a, open, fresh); errors.Is(err, errUnconfirmed) {
			a, err = h.refresh(ctx, turn, a)
			fresh = true
			continue
		}
		if err != nil {
			finishAll(open, err)
			return
		}
		open = p.rest
		if len(p.writes) == 0 {
			continue
		}
		res, aerr := h.appendEvents(ctx, stream, p.expected(), p.data)
		if aerr == nil && res.Outcome == eventstore.Written && res.Revision == p.last() {
			fresh = h.appliedMany(ctx, a, p, res)
			continue
		}
		again := append(p.calls(), open...)
		if aerr == nil {
			// Replayed, or the store cannot say: each command on its own.
			h.cache.evict(stream, a)
			for _, cl := range again {
				cl.finish(h.run(ctx, turn, cl))
			}
			return
		}
		if errFor := h.afterFailedBatch(ctx, a, p, aerr); errFor != nil {
			for _, cl := range again {
				cl.finish(Result{}, errFor(cl))
			}
			return
		}
		open = again
		a, err = h.refresh(ctx, turn, a)
		fresh = true
	}
}

// errUnconfirmed: a decision that writes nothing was made on a cached aggregate
// that may be stale; the plan is made again on the stored state (see run).
var errUnconfirmed = errors.New("outcome to confirm on the stored state")

// batchPlan is what one append of a batch writes.
type batchPlan[S, C, E any] struct {
	// base is what the first command was decided on; state is base's state after
	// every write.
	base  base[S]
	state S
	// writes are the commands that write, in order, with their events.
	writes []write[S, C, E]
	data   []eventstore.EventData
	// follow are later deliveries of a command this plan writes: each is answered
	// as a duplicate of writes[of].
	follow []follower[C]
	// rest are the calls left for the next append (the append size limit).
	rest []*call[C]
}

type follower[C any] struct {
	cl *call[C]
	of int
}

func (p batchPlan[S, C, E]) expected() eventstore.ExpectedRevision {
	return decision[S, E]{revision: p.base.revision, exists: p.base.exists}.expected()
}

// last is the revision of the plan's last event.
func (p batchPlan[S, C, E]) last() uint64 {
	recs := p.writes[len(p.writes)-1].recs
	return recs[len(recs)-1].Revision
}

// calls are the plan's calls that still wait for an answer: its writers and their
// followers.
func (p batchPlan[S, C, E]) calls() []*call[C] {
	out := make([]*call[C], 0, len(p.writes)+len(p.follow))
	for _, w := range p.writes {
		out = append(out, w.cl)
	}
	for _, f := range p.follow {
		out = append(out, f.cl)
	}
	return out
}

// plan decides the calls in order on a's state, answering at once those that
// write nothing (duplicates, business-key duplicates, rejections and no-ops not
// recorded) and collecting the others' events, as long as the append stays within
// the size limit.
func (h *Handler[S, C, E]) plan(ctx context.Context, a *loaded[S], calls []*call[C], fresh bool) (batchPlan[S, C, E], error) {
	b, err := h.folded(a)
	if err != nil {
		return batchPlan[S, C, E]{}, err
	}
	p := batchPlan[S, C, E]{base: b, state: b.state}
	cur := b
	writer := map[string]int{} // command id -> index in p.writes
	size := 0
	for i, cl := range calls {
		if w, ok := writer[cl.cmd.ID]; ok {
			p.follow = append(p.follow, follower[C]{cl, w})
			continue
		}
		if res, err, done := h.answerFromRecord(ctx, a, cl); done {
			cl.finish(res, err)
			continue
		}
		_, span := h.decideSpan(cl.ctx)
		d, err := h.decideAt(cur, cl.cmd.Payload)
		span.End()
		if err != nil {
			cl.finish(Result{}, cl.errorf("%w", err))
			continue
		}
		if !fresh && !h.writes(d) {
			return p, errUnconfirmed
		}
		if res, err, final := h.answerWithoutWrite(cl, d); final {
			cl.finish(res, err)
			continue
		}
		data, err := h.eventsOf(cl, d)
		if err != nil {
			cl.finish(Result{}, err)
			continue
		}
		n := appendSize(data)
		if size+n > h.cfg.maxAppendSize && len(p.writes) > 0 {
			p.rest = calls[i:]
			break
		}
		w := write[S, C, E]{cl: cl, d: d, recs: recordedFrom(cl.stream, data, cur.next())}
		state, err := h.evolveWritten(cur.state, w)
		if err != nil {
			cl.finish(Result{}, cl.errorf("%w", err)) // its events do not fold: not written
			continue
		}
		size += n
		cur = base[S]{state: state, revision: w.recs[len(w.recs)-1].Revision, exists: true}
		writer[cl.cmd.ID] = len(p.writes)
		p.writes = append(p.writes, w)
		p.data = append(p.data, data...)
	}
	p.state = cur.state
	return p, nil
}

// appliedMany finishes a batch append this handler wrote: the aggregate moves
// forward by all of it, each writer is answered with its own events, each follower
// as a duplicate of its writer. It reports whether the aggregate was moved (and so
// is fresh for the next plan).
func (h *Handler[S, C, E]) appliedMany(ctx context.Context, a *loaded[S], p batchPlan[S, C, E], res eventstore.AppendResult) bool {
	last := p.writes[len(p.writes)-1].recs
	last[len(last)-1].Position = res.Position // known for the append's last event only
	moved := h.advance(ctx, a, p.base, p.state, p.writes)
	for _, w := range p.writes {
		w.cl.finish(h.answerWritten(w))
	}
	for _, f := range p.follow {
		f.cl.finish(h.sameAs(f.cl, p.writes[f.of].cl))
	}
	return moved
}

// sameAs answers a later delivery of the command first answered: its duplicate.
func (h *Handler[S, C, E]) sameAs(cl, first *call[C]) (Result, error) {
	if first.err != nil {
		var rejected *RejectedError
		if errors.As(first.err, &rejected) {
			again := *rejected
			again.Duplicate = true
			return Result{}, &again
		}
		return Result{}, first.err
	}
	res := first.res
	res.Events = cloneEvents(res.Events)
	res.Duplicate, res.DuplicateBy = true, ByCommandID
	return res, nil
}

// afterFailedBatch is afterFailedAppend for a batch: nil to catch up and plan
// again after one backoff, or the error each command's Handle returns.
func (h *Handler[S, C, E]) afterFailedBatch(ctx context.Context, a *loaded[S], p batchPlan[S, C, E], err error) func(*call[C]) error {
	calls := p.calls()
	for _, w := range p.writes {
		if !notWritten(err) {
			w.cl.unsettled = append(w.cl.unsettled, w.cl.meta.Attempt)
		}
	}
	if !retryable(ctx, err) {
		h.cache.evict(a.stream, a)
		return func(cl *call[C]) error { return cl.errorf("%w", err) }
	}
	failed := 0
	for _, cl := range calls {
		cl.failed++
		failed = max(failed, cl.failed)
	}
	if failed > h.cfg.retries {
		h.log.Warn("idem: command retries exhausted", "stream", a.stream, "commands", len(calls), "attempts", failed, "err", err)
		return func(cl *call[C]) error {
			return &RetriesExhaustedError{CommandID: cl.cmd.ID, Stream: cl.stream, Attempts: cl.failed, Last: err}
		}
	}
	h.stats.conflicts.Add(1) // one append met the conflict
	h.tel.conflicts.Add(ctx, 1, h.tel.byCategory)
	h.log.Debug("idem: batch append retried", "stream", a.stream, "commands", len(calls), "attempt", failed, "err", err)
	if serr := h.sleep(ctx, failed-1); serr != nil {
		return func(cl *call[C]) error { return cl.errorf("%w (after %w)", serr, err) }
	}
	return nil
}

// finishAll answers every call with err, wrapped with its command.
func finishAll[C any](calls []*call[C], err error) {
	for _, cl := range calls {
		cl.finish(Result{}, cl.errorf("%w", err))
	}
}

// appendSize is the size an append's limit counts: type, data and metadata.
func appendSize(data []eventstore.EventData) int {
	n := 0
	for _, d := range data {
		n += len(d.Type) + len(d.Data) + len(d.Metadata)
	}
	return n
}
