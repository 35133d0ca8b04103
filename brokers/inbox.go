package brokers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/internal/callback"
)

// Outcome is the known outcome of a processed message: it may be acknowledged.
type Outcome uint8

const (
	// Applied: the command's events were written by this delivery.
	Applied Outcome = iota + 1
	// NoOp: the command decided no events.
	NoOp
	// Duplicate: the command was already handled (by command id or business key);
	// nothing was written.
	Duplicate
	// DeadLettered: the message was refused for good and sent to the dead-letter
	// destination.
	DeadLettered
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case NoOp:
		return "no-op"
	case Duplicate:
		return "duplicate"
	case DeadLettered:
		return "dead-lettered"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Inbox decides the messages of a broker with a Handler: it finds each message's
// idempotency key, handles it, dead-letters permanent refusals and retries
// unknown outcomes, and says when a message may be acknowledged. It holds no
// broker: the consumers of packages kafka and natsjs call Process for each
// message, in order per partition, and acknowledge what it returns. It is safe
// for concurrent use.
type Inbox struct {
	handler Handler
	cfg     inboxConfig
	stats   inboxCounters
}

// NewInbox returns an inbox that hands messages to h. A nil handler or an invalid
// option fails with ErrInvalidOption.
func NewInbox(h Handler, opts ...InboxOption) (*Inbox, error) {
	cfg := inboxConfig{key: headerKey(HeaderIdempotencyKey), classify: Classify,
		backoff: backoff{DefaultMinBackoff, DefaultMaxBackoff}, grace: DefaultGrace, log: slog.Default()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if h == nil {
		return nil, invalid("NewInbox: nil handler")
	}
	return &Inbox{handler: h, cfg: cfg}, nil
}

// Stats returns a snapshot of the inbox's counters.
func (in *Inbox) Stats() InboxStats { return in.stats.snapshot() }

// Process decides m and returns its outcome once it is known, and the message
// may be acknowledged: handled (applied, a no-op, a duplicate), or refused for
// good and dead-lettered through dl. An unknown outcome is retried with backoff
// until it is known or ctx ends; Process then returns ctx's error and the message
// must not be acknowledged: the broker will deliver it again.
//
// When ctx ends during a Handle call, the call is given the inbox's grace
// (WithGrace) to finish, and its answer is used: a shutdown acknowledges what it
// was handling. No new attempt starts after ctx ended.
func (in *Inbox) Process(ctx context.Context, m Message, dl DeadLetterer) (Outcome, error) {
	if dl == nil {
		return 0, invalid("Process: nil DeadLetterer")
	}
	if err := ctx.Err(); err != nil {
		in.stats.abandoned.Add(1)
		return 0, err
	}
	// The handler's context outlives ctx by the grace, so a command in flight at
	// a shutdown finishes and is acknowledged instead of handled again elsewhere.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(in.cfg.grace, cancel) })
	defer stopGrace()

	key, err := in.cfg.key(m)
	if err == nil && key == "" {
		err = errors.New("empty idempotency key")
	}
	if err != nil {
		// Never an invented id: a key made up here (an offset, a random id)
		// would make each redelivery of the message a new command.
		return in.deadLetter(ctx, hctx, dl, DeadLetter{Message: m, Reason: ReasonNoIdempotencyKey, Err: err})
	}
	d := Delivery{Message: m, IdempotencyKey: key}
	for attempt := 1; ; attempt++ {
		res, err := in.handle(hctx, d)
		if err == nil {
			return in.done(res), nil
		}
		if reason := in.cfg.classify(err); reason != "" {
			return in.deadLetter(ctx, hctx, dl, DeadLetter{Message: m, Reason: reason, Err: err})
		}
		if ctx.Err() != nil {
			in.stats.abandoned.Add(1)
			return 0, fmt.Errorf("process %s (key %s): outcome unknown when the context ended: %w: last error: %w",
				m.Source, key, ctx.Err(), err)
		}
		in.cfg.log.Warn("inbox: outcome unknown, retrying", "source", m.Source, "key", key, "attempt", attempt, "error", err)
		if err := in.cfg.backoff.sleep(ctx, attempt); err != nil {
			in.stats.abandoned.Add(1)
			return 0, err
		}
		in.stats.retries.Add(1)
	}
}

// handle calls the handler, turning a panic into an *idem.PanicError.
func (in *Inbox) handle(ctx context.Context, d Delivery) (res command.Result, err error) {
	err = callback.Call("inbox Handler", func() error {
		res, err = in.handler.Handle(ctx, d)
		return err
	})
	return res, err
}

// done counts a handled message and returns its outcome.
func (in *Inbox) done(res command.Result) Outcome {
	in.stats.processed.Add(1)
	switch {
	case res.Duplicate:
		in.stats.duplicates.Add(1)
		return Duplicate
	case res.NoOp:
		in.stats.noOps.Add(1)
		return NoOp
	}
	in.stats.applied.Add(1)
	return Applied
}

// deadLetter sends d through dl, retrying until the broker acknowledged it: only
// then may the refused message be acknowledged. It gives up when ctx ended and
// the grace is over (hctx), leaving the message unacknowledged.
func (in *Inbox) deadLetter(ctx, hctx context.Context, dl DeadLetterer, d DeadLetter) (Outcome, error) {
	in.cfg.log.Warn("inbox: dead-lettering", "source", d.Message.Source, "reason", d.Reason, "error", d.Err)
	for attempt := 1; ; attempt++ {
		err := callback.Call("inbox DeadLetterer", func() error { return dl.DeadLetter(hctx, d) })
		if err == nil {
			in.stats.processed.Add(1)
			in.stats.deadLetter(d.Reason)
			return DeadLettered, nil
		}
		if hctx.Err() != nil || ctx.Err() != nil {
			in.stats.abandoned.Add(1)
			return 0, fmt.Errorf("dead-letter %s (%s): %w", d.Message.Source, d.Reason, errors.Join(ctx.Err(), err))
		}
		in.cfg.log.Warn("inbox: dead letter not acknowledged, retrying", "source", d.Message.Source, "attempt", attempt, "error", err)
		if err := in.cfg.backoff.sleep(ctx, attempt); err != nil {
			in.stats.abandoned.Add(1)
			return 0, err
		}
		in.stats.dlRetries.Add(1)
	}
}
