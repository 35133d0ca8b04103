package command_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
)

// conflictOnce fails its first n appends with a conflict, writing nothing.
type conflictOnce struct {
	eventstore.Store
	n atomic.Int64
}

func (c *conflictOnce) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if c.n.Add(-1) >= 0 {
		return eventstore.AppendResult{}, &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: eventstore.Exact(99)}
	}
	return c.Store.Append(ctx, stream, expected, events...)
}

// outcomeCounts is what Stats says of each outcome, keyed as idem.outcome.
func outcomeCounts(s command.Stats) map[string]int64 {
	all := map[string]uint64{
		command.OutcomeApplied: s.Applied, command.OutcomeDuplicate: s.DuplicatesByID,
		command.OutcomeDuplicateByKey: s.DuplicatesByKey, command.OutcomeKeyReused: s.KeyReused,
		command.OutcomeKeyClaimed: s.KeyClaimed, command.OutcomeRejected: s.Rejected, command.OutcomeNoOp: s.NoOps,
		command.OutcomeInvalid: s.Invalid, command.OutcomeRetriesExhausted: s.RetriesExhausted,
		command.OutcomePanicked: s.Panicked, command.OutcomeFailed: s.Failed,
	}
	out := map[string]int64{}
	for k, v := range all {
		if v > 0 {
			out[k] = int64(v)
		}
	}
	return out
}

// TestEveryOutcomeCountsOnce: each Handle call counts in exactly one outcome, the
// same in Stats and in idem.command.handled, however many attempts it took (a
// recorded rejection decided twice around a conflict is one rejection; an
// acknowledgement lost and recovered is one applied command, no duplicate).
func TestEveryOutcomeCountsOnce(t *testing.T) {
	fast := command.WithBackoff(0, time.Microsecond)
	cases := []struct {
		name string
		run  func(t *testing.T, opts ...command.Option) command.Stats
		want map[string]int64
	}{
		{"recorded rejection after a conflict", func(t *testing.T, opts ...command.Option) command.Stats {
			store := &conflictOnce{Store: memory.New()}
			store.n.Store(1)
			h := newHandler(t, store, append(opts, command.WithRecordedRejections(), fast)...)
			_, err := h.Handle(t.Context(), cmd{ID: "w", AggregateID: "a", Payload: Withdraw{Amount: 5}})
			require.ErrorIs(t, err, command.ErrRejected)
			require.EqualValues(t, 1, h.Stats().ConflictsRetried)
			return h.Stats()
		}, map[string]int64{"rejected": 1}},
		{"redelivered rejection", func(t *testing.T, opts ...command.Option) command.Stats {
			h := newHandler(t, memory.New(), append(opts, command.WithRecordedRejections())...)
			for range 2 {
				_, err := h.Handle(t.Context(), cmd{ID: "w", AggregateID: "a", Payload: Withdraw{Amount: 5}})
				require.ErrorIs(t, err, command.ErrRejected)
			}
			return h.Stats()
		}, map[string]int64{"rejected": 2}},
		{"lost acknowledgement", func(t *testing.T, opts ...command.Option) command.Stats {
			store := &lostAckStore{Store: memory.New()}
			store.lose.Store(1)
			h := newHandler(t, store, append(opts, fast)...)
			res, err := h.Handle(t.Context(), cmd{ID: "d", AggregateID: "a", Payload: Deposit{Amount: 5}})
			require.NoError(t, err)
			require.False(t, res.Duplicate)
			return h.Stats()
		}, map[string]int64{"applied": 1}},
		{"retries exhausted", func(t *testing.T, opts ...command.Option) command.Stats {
			h := newHandler(t, conflictStore{memory.New()}, append(opts, command.WithRetries(2), fast)...)
			_, err := h.Handle(t.Context(), cmd{ID: "d", AggregateID: "a", Payload: Deposit{Amount: 5}})
			require.ErrorIs(t, err, command.ErrRetriesExhausted)
			return h.Stats()
		}, map[string]int64{"retries_exhausted": 1}},
		{"panicked", func(t *testing.T, opts ...command.Option) command.Stats {
			d := accountDecider()
			d.Decide = func(Account, AccountCommand) ([]AccountEvent, error) { panic("boom") }
			h := mustHandler(t, memory.New(), d, opts...)
			_, err := h.Handle(t.Context(), cmd{ID: "d", AggregateID: "a", Payload: Deposit{Amount: 5}})
			require.Error(t, err)
			return h.Stats()
		}, map[string]int64{"panicked": 1}},
		{"cancelled", func(t *testing.T, opts ...command.Option) command.Stats {
			h := newHandler(t, memory.New(), opts...)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := h.Handle(ctx, cmd{ID: "d", AggregateID: "a", Payload: Deposit{Amount: 5}})
			require.ErrorIs(t, err, context.Canceled)
			return h.Stats()
		}, map[string]int64{"failed": 1}},
		{"key claimed", func(t *testing.T, opts ...command.Option) command.Stats {
			store := memory.New()
			h := newUserHandler(t, store, opts...)
			_, err := h.Handle(t.Context(), userCmd{ID: "r1", AggregateID: "u1", Payload: Register{Email: "a@x"}})
			require.NoError(t, err)
			_, err = h.Handle(t.Context(), userCmd{ID: "r2", AggregateID: "u2", Payload: Register{Email: "a@x"}})
			require.Error(t, err)
			return h.Stats()
		}, map[string]int64{"applied": 1, "key_claimed": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			s := c.run(t, command.WithMeterProvider(mp))
			require.Equal(t, c.want, outcomeCounts(s), "Stats")
			require.Equal(t, c.want, counts(t, reader, "idem.command.handled", "idem.outcome"), "metrics")
			var total int64
			for o, n := range c.want {
				if o != command.OutcomeInvalid {
					total += n
				}
			}
			require.EqualValues(t, total, s.Handled)
		})
	}
}
