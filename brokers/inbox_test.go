package brokers_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/internal/brokertest"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// deadLetters is a DeadLetterer that keeps what it is sent.
type deadLetters struct {
	mu   sync.Mutex
	got  []brokers.DeadLetter
	fail int // the next fail calls fail
}

func (d *deadLetters) DeadLetter(_ context.Context, dl brokers.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail > 0 {
		d.fail--
		return errors.New("broker down")
	}
	d.got = append(d.got, dl)
	return nil
}

// Each known outcome is acknowledged, and each permanent refusal is dead-lettered
// with its reason first; a message without a key is never handled.
func TestInboxAcknowledgesOnlyKnownOutcomes(t *testing.T) {
	ctx := context.Background()
	env := brokertest.NewEnv(t)
	in := env.Inbox(t)
	msg := func(id string, amount int64) brokers.Message {
		return env.Messages(t, "cmds", []command.Command[brokertest.Command]{{ID: id, AggregateID: "a-1", Payload: brokertest.Deposit{Amount: amount}}})[0]
	}
	noKey := msg("x", 5)
	noKey.Headers = noKey.Headers[1:]
	undecodable := msg("u-1", 5)
	undecodable.Value = []byte("{")
	cases := []struct {
		name   string
		m      brokers.Message
		want   brokers.Outcome
		reason brokers.Reason
	}{
		{"applied", msg("c-1", 5), brokers.Applied, ""},
		{"redelivered", msg("c-1", 5), brokers.Duplicate, ""},
		{"key reused", msg("c-1", 6), brokers.DeadLettered, brokers.ReasonKeyReused},
		{"rejected", msg("c-2", 0), brokers.DeadLettered, brokers.ReasonRejected},
		{"panicked", msg("c-3", -1), brokers.DeadLettered, brokers.ReasonPanicked},
		{"no key", noKey, brokers.DeadLettered, brokers.ReasonNoIdempotencyKey},
		{"undecodable", undecodable, brokers.DeadLettered, brokers.ReasonUndecodable},
	}
	dl := &deadLetters{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(dl.got)
			got, err := in.Process(ctx, c.m, dl)
			if err != nil || got != c.want {
				t.Fatalf("Process = %v, %v; want %v", got, err, c.want)
			}
			if c.reason == "" {
				if len(dl.got) != before {
					t.Fatalf("a handled message was dead-lettered")
				}
				return
			}
			last := dl.got[len(dl.got)-1]
			if len(dl.got) != before+1 || last.Reason != c.reason {
				t.Fatalf("dead letters %+v, want one with reason %s", dl.got[before:], c.reason)
			}
			m := brokers.Message{Headers: last.Headers()}
			if r, _ := m.Header(brokers.HeaderDeadLetterReason); r != string(c.reason) {
				t.Fatalf("dead letter headers %v", last.Headers())
			}
		})
	}
	st := in.Stats()
	if st.Processed != 7 || st.Applied != 1 || st.Duplicates != 1 || st.DeadLettered != 5 || st.ByReason[brokers.ReasonRejected] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := env.Applied(t); len(got) != 1 || got["c-1"] != 1 {
		t.Fatalf("applied %v, want c-1 once", got)
	}
}

// An unknown outcome is retried and never acknowledged while unknown; when the
// context ends first, Process says so and the message stays unacknowledged.
func TestInboxRetriesUnknownOutcomes(t *testing.T) {
	ctx := context.Background()
	env := brokertest.NewEnv(t)
	var calls atomic.Int32
	failing := brokers.HandlerFunc(func(ctx context.Context, d brokers.Delivery) (command.Result, error) {
		if calls.Add(1) <= 3 {
			return command.Result{}, eventstore.ErrUnavailable
		}
		return brokers.Commands(env.Handler, env.Codec).Handle(ctx, d)
	})
	in, err := brokers.NewInbox(failing, brokers.WithBackoff(time.Millisecond, 5*time.Millisecond), brokers.WithLogger(brokertest.Quiet()))
	if err != nil {
		t.Fatal(err)
	}
	m := env.Messages(t, "cmds", brokertest.Deposits(1, 1))[0]
	dl := &deadLetters{fail: 2}
	if got, err := in.Process(ctx, m, dl); err != nil || got != brokers.Applied {
		t.Fatalf("Process = %v, %v", got, err)
	}
	if st := in.Stats(); st.Retries != 3 || st.Processed != 1 {
		t.Fatalf("stats %+v", st)
	}

	// Never answered: Process gives up with the context, unacknowledged.
	stuck, err := brokers.NewInbox(brokers.HandlerFunc(func(context.Context, brokers.Delivery) (command.Result, error) {
		return command.Result{}, command.ErrRetriesExhausted
	}), brokers.WithBackoff(time.Millisecond, 5*time.Millisecond), brokers.WithLogger(brokertest.Quiet()))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := stuck.Process(cctx, m, dl); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Process = %v, want the context's error", err)
	}
	if st := stuck.Stats(); st.Processed != 0 || st.Abandoned != 1 || st.Retries == 0 {
		t.Fatalf("stats %+v", st)
	}

	// A dead letter the broker does not take is retried before the ack.
	in2 := env.Inbox(t)
	rej := env.Messages(t, "cmds", []command.Command[brokertest.Command]{{ID: "z", AggregateID: "a", Payload: brokertest.Deposit{}}})[0]
	if got, err := in2.Process(ctx, rej, dl); err != nil || got != brokers.DeadLettered || len(dl.got) != 1 {
		t.Fatalf("Process = %v, %v; dead letters %d", got, err, len(dl.got))
	}
	if st := in2.Stats(); st.DeadLetterRetries != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// A shutdown during a Handle call lets the call finish within the grace, and its
// answer is acknowledged rather than redelivered.
func TestInboxGraceFinishesTheCallInFlight(t *testing.T) {
	env := brokertest.NewEnv(t)
	started := make(chan struct{})
	slow := brokers.HandlerFunc(func(ctx context.Context, d brokers.Delivery) (command.Result, error) {
		close(started)
		time.Sleep(50 * time.Millisecond)
		return brokers.Commands(env.Handler, env.Codec).Handle(ctx, d)
	})
	in, err := brokers.NewInbox(slow, brokers.WithGrace(5*time.Second), brokers.WithLogger(brokertest.Quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	got, err := in.Process(ctx, env.Messages(t, "cmds", brokertest.Deposits(1, 1))[0], &deadLetters{})
	if err != nil || got != brokers.Applied {
		t.Fatalf("Process = %v, %v; want applied within the grace", got, err)
	}
}

func TestNewInboxRefusesBadOptions(t *testing.T) {
	h := brokers.HandlerFunc(func(context.Context, brokers.Delivery) (command.Result, error) { return command.Result{}, nil })
	for name, opt := range map[string]brokers.InboxOption{
		"header": brokers.WithKeyHeader(""), "func": brokers.WithKeyFunc(nil), "classifier": brokers.WithClassifier(nil),
		"backoff": brokers.WithBackoff(0, 1), "grace": brokers.WithGrace(-1), "logger": brokers.WithLogger(nil),
	} {
		if _, err := brokers.NewInbox(h, opt); !errors.Is(err, brokers.ErrInvalidOption) {
			t.Errorf("%s: NewInbox = %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := brokers.NewInbox(nil); !errors.Is(err, brokers.ErrInvalidOption) {
		t.Errorf("nil handler: %v", err)
	}
}
