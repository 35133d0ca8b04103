package testkit_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/testkit"
	"github.com/idemkit/idem/testkit/faults"
)

// --- scenarios that pass ---

func TestThenEvents(t *testing.T) {
	testkit.Aggregate(t, paymentDecider(nil), paymentCodec()).
		Given(Authorized{Amount: 100}).
		When(Capture{Reference: "cap-1", Amount: 60}).
		Then(Captured{Reference: "cap-1", Amount: 60}).
		When(Capture{Reference: "cap-2", Amount: 40}).
		Then(Captured{Reference: "cap-2", Amount: 40})
}

func TestSeveralWhensInARow(t *testing.T) {
	s := testkit.Aggregate(t, paymentDecider(nil), paymentCodec()).
		When(Authorize{Amount: 100}).
		When(Capture{Reference: "cap-1", Amount: 30}).
		Then(Captured{Reference: "cap-1", Amount: 30})
	loaded, err := s.State()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), loaded.Revision)
	assert.Equal(t, 30, loaded.State.Captured)
}

func TestThenErrorAndMatches(t *testing.T) {
	testkit.Aggregate(t, paymentDecider(nil), paymentCodec()).
		When(Capture{Reference: "cap-1", Amount: 10}).
		ThenError(ErrNotAuthorized).
		Given(Authorized{Amount: 100}).
		When(Capture{Reference: "cap-2", Amount: 101}).
		ThenErrorMatches(func(err error) bool {
			var rejected *command.RejectedError
			return errors.As(err, &rejected) && errors.Is(rejected.Err, ErrOverCapture)
		})
}

// A capture whose reference was already used is a duplicate by business key (G5):
// no events, and its redelivery neither.
func TestThenNothing(t *testing.T) {
	testkit.Aggregate(t, paymentDecider(nil), paymentCodec()).
		Given(Authorized{Amount: 100}, Captured{Reference: "cap-1", Amount: 10}).
		When(Capture{Reference: "cap-1", Amount: 10}).
		ThenNothing()
}

// With RecordRejections the rejection is stored and its redelivery is answered
// from the marker: the scenario passes through the handler's options.
func TestHandlerOptions(t *testing.T) {
	s := testkit.Aggregate(t, paymentDecider(nil), paymentCodec(),
		testkit.WithHandlerOptions(command.WithRecordedRejections()),
		testkit.WithAggregateID("p-7"),
		testkit.WithStartTime(time.Date(2030, 5, 1, 0, 0, 0, 0, time.UTC))).
		When(Capture{Reference: "cap-1", Amount: 10}).
		ThenError(ErrNotAuthorized)
	assert.Equal(t, "payment-p-7", s.Stream())
	for e, err := range s.Store().ReadStream(t.Context(), s.Stream(), 0) {
		require.NoError(t, err)
		assert.Equal(t, command.RejectedEventType, e.Type)
		assert.Equal(t, time.Date(2030, 5, 1, 0, 0, 0, 0, time.UTC), e.RecordedAt, "the scenario's fixed clock")
	}
}

// An explicit command id that repeats an earlier one is a duplicate: the scenario
// sees the original events, and nothing written.
func TestExplicitCommand(t *testing.T) {
	cmd := command.Command[Command]{ID: "client-42", Payload: Capture{Reference: "cap-1", Amount: 5}, CorrelationID: "corr-1"}
	s := testkit.Aggregate(t, paymentDecider(nil), paymentCodec()).
		Given(Authorized{Amount: 100}).
		WhenCommand(cmd).
		Then(Captured{Reference: "cap-1", Amount: 5})
	res, err := s.Result()
	require.NoError(t, err)
	m, err := command.DecodeMetadata(res.Events[0].Metadata)
	require.NoError(t, err)
	assert.Equal(t, "client-42", m.CommandID)
	assert.Equal(t, "corr-1", m.CorrelationID)
}

// Deterministic ids: the same scenario writes the same event ids every run.
func TestDeterministicIDs(t *testing.T) {
	ids := func() []string {
		s := testkit.Aggregate(t, paymentDecider(nil), paymentCodec()).
			Given(Authorized{Amount: 100}).
			When(Capture{Reference: "cap-1", Amount: 5}).
			Then(Captured{Reference: "cap-1", Amount: 5})
		var out []string
		for e, err := range s.Store().ReadAll(t.Context(), eventstore.Start()) {
			require.NoError(t, err)
			out = append(out, e.ID.String()+" "+e.RecordedAt.String())
		}
		return out
	}
	assert.Equal(t, ids(), ids())
}

// The scenario runs through a store that loses the acknowledgement of every first
// append: the handler retries with the same event ids (G2, G3) and the scenario
// still sees one event, and a redelivery that writes nothing.
func TestThroughLostAcks(t *testing.T) {
	var fs *faults.Store
	testkit.Aggregate(t, paymentDecider(nil), paymentCodec(),
		testkit.WithStore(func(s eventstore.Store) eventstore.Store {
			fs = faults.Wrap(s, faults.LostAck(faults.EveryNth(2)))
			return fs
		}),
		testkit.WithHandlerOptions(command.WithBackoff(0, 0))).
		Given(Authorized{Amount: 100}).
		When(Capture{Reference: "cap-1", Amount: 60}).
		Then(Captured{Reference: "cap-1", Amount: 60}).
		When(Capture{Reference: "cap-2", Amount: 40}).
		Then(Captured{Reference: "cap-2", Amount: 40})
	assert.Positive(t, fs.Stats().LostAcks)
}

// --- scenarios that must fail, one per mistake the testkit claims to catch ---

// run runs a scenario against a recording T and returns what a user would see.
func run(t *testing.T, scenario func(tk testkit.T)) string {
	t.Helper()
	rt := &recordingT{name: t.Name()}
	scenario(rt)
	rt.finish()
	require.True(t, rt.failed(), "the scenario should have failed")
	msg := rt.message()
	t.Logf("the message a user sees:\n%s", msg)
	return msg
}

func TestCatchesWrongEvent(t *testing.T) {
	// A Decide that captures one unit less than asked.
	buggy := func(s payment, c Command) ([]Event, error) {
		events, err := decide(s, c)
		if cap, ok := c.(Capture); ok && err == nil {
			events = []Event{Captured{Reference: cap.Reference, Amount: cap.Amount - 1}}
		}
		return events, err
	}
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(buggy), paymentCodec()).
			Given(Authorized{Amount: 100}).
			When(Capture{Reference: "cap-1", Amount: 100}).
			Then(Captured{Reference: "cap-1", Amount: 100})
	})
	assert.Contains(t, msg, `step 2: When(testkit_test.Capture{Reference:"cap-1", Amount:100}): Then: wrong events`)
	assert.Contains(t, msg, `[0] testkit_test.Captured{Reference:"cap-1", Amount:100}`)
	assert.Contains(t, msg, `[0] testkit_test.Captured{Reference:"cap-1", Amount:99}`)
	assert.Contains(t, msg, "--- Expected")
	assert.Contains(t, msg, "-  Amount: (int) 100")
	assert.Contains(t, msg, "+  Amount: (int) 99")
}

func TestCatchesEventRecordedTwice(t *testing.T) {
	// A Decide that emits the capture twice.
	buggy := func(s payment, c Command) ([]Event, error) {
		events, err := decide(s, c)
		if _, ok := c.(Capture); ok && err == nil {
			events = append(events, events...)
		}
		return events, err
	}
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(buggy), paymentCodec()).
			Given(Authorized{Amount: 100}).
			When(Capture{Reference: "cap-1", Amount: 10}).
			Then(Captured{Reference: "cap-1", Amount: 10})
	})
	assert.Contains(t, msg, "wrong events\n  expected: 1 event")
	assert.Contains(t, msg, "actual: 2 events")
}

func TestCatchesMissingError(t *testing.T) {
	// A Decide that forgot the over-capture rule.
	buggy := func(s payment, c Command) ([]Event, error) {
		if cap, ok := c.(Capture); ok && s.Authorized > 0 {
			return []Event{Captured{Reference: cap.Reference, Amount: cap.Amount}}, nil
		}
		return decide(s, c)
	}
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(buggy), paymentCodec()).
			Given(Authorized{Amount: 100}).
			When(Capture{Reference: "cap-1", Amount: 150}).
			ThenError(ErrOverCapture)
	})
	assert.Contains(t, msg, `step 2: When(testkit_test.Capture{Reference:"cap-1", Amount:150}): ThenError(capture exceeds the authorized amount): the command succeeded, expected an error`)
	assert.Contains(t, msg, `[0] testkit_test.Captured{Reference:"cap-1", Amount:150}`)
}

func TestCatchesWrongError(t *testing.T) {
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(nil), paymentCodec()).
			When(Capture{Reference: "cap-1", Amount: 150}).
			ThenError(ErrOverCapture)
	})
	assert.Contains(t, msg, "wrong error\n  actual: handle command \"testkit-cmd-1\" on payment-test: command rejected: payment not authorized")
}

func TestCatchesUnexpectedError(t *testing.T) {
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(nil), paymentCodec()).
			When(Capture{Reference: "cap-1", Amount: 1}).
			Then(Captured{Reference: "cap-1", Amount: 1})
	})
	assert.Contains(t, msg, "Then: the command failed: handle command")
	assert.Contains(t, msg, "payment not authorized")
}

// A field tagged json:"-" never reaches the store: the event read back differs
// from the event decided.
type CapturedLossy struct {
	Reference string `json:"reference"`
	Amount    int    `json:"amount"`
	Operator  string `json:"-"`
}

func (CapturedLossy) isEvent() {}

func TestCatchesCodecThatLosesAField(t *testing.T) {
	codec := paymentCodec(aggregate.Event[CapturedLossy]("payment.CapturedLossy"))
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(nil), codec).
			Given(Authorized{Amount: 100}, CapturedLossy{Reference: "cap-0", Amount: 1, Operator: "ann"})
	})
	assert.Contains(t, msg, `step 1: Given(`)
	assert.Contains(t, msg, `event #1: testkit_test.CapturedLossy loses data through the codec (registered as "payment.CapturedLossy")`)
	assert.Contains(t, msg, `encoded: {"reference":"cap-0","amount":1}`)
	assert.Contains(t, msg, `- Operator: (string) (len=3) "ann"`)
	assert.Contains(t, msg, `+ Operator: (string) ""`)
}

// An unexported field is just as lost, in an expected event or in a command.
type CaptureWithNote struct {
	Reference string `json:"reference"`
	note      string
}

func (CaptureWithNote) isCommand() {}

func TestCatchesUnexportedFieldInCommand(t *testing.T) {
	codec := paymentCodec(aggregate.Command[CaptureWithNote]("payment.CaptureWithNote"))
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(nil), codec).
			When(CaptureWithNote{Reference: "cap-1", note: "rush"})
	})
	assert.Contains(t, msg, "step 1: When(testkit_test.CaptureWithNote")
	assert.Contains(t, msg, "command: testkit_test.CaptureWithNote loses data through the codec")
}

type Refunded struct{ Amount int }

func (Refunded) isEvent() {}

func TestCatchesUnregisteredType(t *testing.T) {
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(nil), paymentCodec()).
			Given(Authorized{Amount: 100}).
			When(Capture{Reference: "cap-1", Amount: 1}).
			Then(Refunded{Amount: 1})
	})
	assert.Contains(t, msg, "Then: expected event #0: testkit_test.Refunded is not registered in the codec")
}

// A Decide that is not pure: it asks a fraud service, here a stub that flags only
// the first call. The first delivery is rejected, the redelivery (decided afresh:
// a rejection is not recorded by default, G6) captures the money. In production
// the queue's retry would capture a payment the team believes was refused.
func TestCatchesRedeliveryThatWrites(t *testing.T) {
	var calls atomic.Int32
	errSuspicious := errors.New("fraud check: suspicious")
	impure := func(s payment, c Command) ([]Event, error) {
		if _, ok := c.(Capture); ok && calls.Add(1) == 1 {
			return nil, errSuspicious
		}
		return decide(s, c)
	}
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(impure), paymentCodec()).
			Given(Authorized{Amount: 100}).
			When(Capture{Reference: "cap-1", Amount: 100}).
			ThenError(errSuspicious)
	})
	assert.Contains(t, msg, `step 2: When(testkit_test.Capture{Reference:"cap-1", Amount:100}): ThenError(fraud check: suspicious): redelivery of command "testkit-cmd-1" wrote 1 event; a redelivered command must write nothing`)
	assert.Contains(t, msg, `redelivery wrote:
    [0] testkit_test.Captured{Reference:"cap-1", Amount:100}`)
}

// The same mistake behind a no-op: the first delivery decides nothing, the
// redelivery writes.
func TestCatchesRedeliveryThatWritesAfterNoOp(t *testing.T) {
	var calls atomic.Int32
	impure := func(s payment, c Command) ([]Event, error) {
		if _, ok := c.(Capture); ok && calls.Add(1) == 1 {
			return nil, nil // "try again later"
		}
		return decide(s, c)
	}
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(impure), paymentCodec()).
			Given(Authorized{Amount: 100}).
			When(Capture{Reference: "cap-1", Amount: 100}).
			ThenNothing()
	})
	assert.Contains(t, msg, "ThenNothing: redelivery of command \"testkit-cmd-1\" wrote 1 event")
}

// A command whose encoding is not stable: it stamps the time it is sent. The
// redelivery of the same command id has another fingerprint and the handler
// refuses it as a reused key (G3): in production every queue retry would fail.
type CaptureStamped struct {
	Reference string `json:"reference"`
	Amount    int    `json:"amount"`
}

func (CaptureStamped) isCommand() {}

var sends atomic.Int64

func (c CaptureStamped) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"reference": c.Reference, "amount": c.Amount, "sent": sends.Add(1)})
}

func TestCatchesUnstableFingerprint(t *testing.T) {
	codec := paymentCodec(aggregate.Command[CaptureStamped]("payment.CaptureStamped"))
	d := paymentDecider(func(s payment, c Command) ([]Event, error) {
		if cs, ok := c.(CaptureStamped); ok {
			c = Capture(cs)
		}
		return decide(s, c)
	})
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, d, codec).
			Given(Authorized{Amount: 100}).
			When(CaptureStamped{Reference: "cap-1", Amount: 10}).
			Then(Captured{Reference: "cap-1", Amount: 10})
	})
	assert.Contains(t, msg, `redelivery of command "testkit-cmd-1" failed; it must return the first delivery's result`)
	assert.Contains(t, msg, "idempotency key reused with a different payload")
}

func TestCatchesFailedWhenWithoutThen(t *testing.T) {
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(nil), paymentCodec()).
			When(Capture{Reference: "cap-1", Amount: 1})
	})
	assert.Contains(t, msg, "step 1: When(testkit_test.Capture{Reference:\"cap-1\", Amount:1}): the command failed")
	assert.Contains(t, msg, "(expect a failure with ThenError)")
}

func TestCatchesThenWithoutWhen(t *testing.T) {
	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(nil), paymentCodec()).
			Given(Authorized{Amount: 1}).
			Then(Captured{})
	})
	assert.Contains(t, msg, "step 1: Then without a When before it")
}

func TestOneFailureOneMessage(t *testing.T) {
	rt := &recordingT{name: "x"}
	testkit.Aggregate(rt, paymentDecider(nil), paymentCodec()).
		When(Capture{Reference: "cap-1", Amount: 1}).
		Then(Captured{Reference: "cap-1", Amount: 1}).
		When(Authorize{Amount: 5}).
		Then(Authorized{Amount: 999})
	rt.finish()
	assert.Len(t, rt.errors, 1, "steps after a failure are skipped")
}

func TestInvalidDecider(t *testing.T) {
	msg := run(t, func(tk testkit.T) {
		d := paymentDecider(nil)
		d.Category = "bad-category"
		testkit.Aggregate(tk, d, paymentCodec()).When(Authorize{Amount: 1}).Then(Authorized{Amount: 1})
	})
	assert.Contains(t, msg, "Aggregate: invalid command handler")
}

// Each scenario gets its own store: scenarios run in parallel.
func TestParallelScenarios(t *testing.T) {
	for i := range 4 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			testkit.Aggregate(t, paymentDecider(nil), paymentCodec()).
				Given(Authorized{Amount: 10}).
				When(Capture{Reference: "c", Amount: i}).
				Then(Captured{Reference: "c", Amount: i})
		})
	}
}

// TestEveryCheckRedelivers: each Then, ThenNothing and ThenError sends its step's
// command a second time, and the handler answers that delivery from what the first
// one did. Counted at the handler: one duplicate per checked When (G3); a
// redelivered rejection is answered from its marker and counted as a rejection.
func TestEveryCheckRedelivers(t *testing.T) {
	s := testkit.Aggregate(t, paymentDecider(nil), paymentCodec(), testkit.WithHandlerOptions(command.WithRecordedRejections())).
		When(Authorize{Amount: 100}).
		Then(Authorized{Amount: 100}).
		When(Capture{Reference: "cap-1", Amount: 10}).
		Then(Captured{Reference: "cap-1", Amount: 10}).
		When(Capture{Reference: "cap-1", Amount: 10}).
		ThenNothing().
		When(Capture{Reference: "cap-2", Amount: 1000}).
		ThenError(ErrOverCapture)
	st := s.Handler().Stats()
	assert.Equal(t, uint64(8), st.Handled, "four Whens, each delivered twice")
	assert.Equal(t, uint64(2), st.DuplicatesByID, "the two Thens redelivered by command id")
	assert.Equal(t, uint64(2), st.Rejected, "ThenError's command and its redelivery")
	assert.Equal(t, uint64(2), st.DuplicatesByKey, "the business-key duplicate and its redelivery")
}

// CapturedV1 is how captures were once stored: the reference under "ref".
type CapturedV1 struct {
	Ref    string `json:"ref"`
	Amount int    `json:"amount"`
}

// TestGivenStoredGoesThroughUpcasters: an event stored by older code decodes into
// today's type through the codec's upcaster; the decider sees it (the reference
// is known, so a second capture of it is a duplicate by business key).
func TestGivenStoredGoesThroughUpcasters(t *testing.T) {
	codec := paymentCodec(aggregate.Upcast("payment.Captured.v1", func(o CapturedV1) Captured {
		return Captured{Reference: o.Ref, Amount: o.Amount}
	}))
	s := testkit.Aggregate(t, paymentDecider(nil), codec).
		Given(Authorized{Amount: 100}).
		GivenStored("payment.Captured.v1", []byte(`{"ref":"cap-1","amount":40}`)).
		When(Capture{Reference: "cap-1", Amount: 40}).
		ThenNothing().
		When(Capture{Reference: "cap-2", Amount: 60}).
		Then(Captured{Reference: "cap-2", Amount: 60})
	loaded, err := s.State()
	require.NoError(t, err)
	assert.Equal(t, 100, loaded.State.Captured, "the upcast event counts")

	msg := run(t, func(tk testkit.T) {
		testkit.Aggregate(tk, paymentDecider(nil), paymentCodec()).
			GivenStored("payment.Captured.v1", []byte(`{"ref":"cap-1"}`))
	})
	assert.Contains(t, msg, "the codec cannot decode it")
}
