package command_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
)

// TestCallbackPanicsAreErrors: a panic in any of the decider's functions fails the
// one call with an *idem.PanicError that names the function and keeps the stack;
// nothing is written and the handler goes on serving.
func TestCallbackPanicsAreErrors(t *testing.T) {
	boom := func() { panic("boom") }
	cases := []struct {
		callback string
		break_   func(d *accountDecider_)
	}{
		{"Initial", func(d *accountDecider_) { d.Initial = func() Account { boom(); return Account{} } }},
		{"Evolve", func(d *accountDecider_) {
			d.Evolve = func(Account, AccountEvent) Account { boom(); return Account{} }
		}},
		{"Decide", func(d *accountDecider_) {
			d.Decide = func(Account, AccountCommand) ([]AccountEvent, error) { boom(); return nil, nil }
		}},
		{"Keys", func(d *accountDecider_) { d.Keys = func(AccountCommand) []string { boom(); return nil } }},
	}
	for _, c := range cases {
		t.Run(c.callback, func(t *testing.T) {
			store := memory.New()
			ctx := t.Context()
			good := newHandler(t, store)
			_, err := good.Handle(ctx, cmd{ID: "open", AggregateID: "a", Payload: Open{Owner: "o"}})
			require.NoError(t, err)

			d := accountDecider()
			c.break_(&d)
			h := mustHandler(t, store, d)
			var res command.Result
			require.NotPanics(t, func() {
				res, err = h.Handle(ctx, cmd{ID: "dep", AggregateID: "a", Payload: Deposit{Amount: 1}})
			})
			require.ErrorIs(t, err, idem.ErrPanicked, "got %v (%+v)", err, res)
			var p *idem.PanicError
			require.ErrorAs(t, err, &p)
			require.Equal(t, c.callback, p.Callback)
			require.Equal(t, "boom", p.Value)
			require.Contains(t, string(p.Stack), "hardening_test.go", "the stack shows where the panic happened")
			require.False(t, errors.Is(err, command.ErrRejected), "a panic is not a domain rejection")
			require.Len(t, streamEvents(t, store, "account-a"), 1, "nothing written")
		})
	}
}

// TestResultEventsAreTheCallersOwn: with the cache on, the events of a result share
// nothing with the cache: a caller who changes them does not change what a later
// duplicate returns.
func TestResultEventsAreTheCallersOwn(t *testing.T) {
	ctx := t.Context()
	h := newHandler(t, memory.New(), command.WithCache(8))
	c := cmd{ID: "dep", AggregateID: "a", Payload: Deposit{Amount: 5, Ref: "r-1"}}
	res, err := h.Handle(ctx, c)
	require.NoError(t, err)
	want := string(res.Events[0].Data)
	for i := range res.Events[0].Data {
		res.Events[0].Data[i] = 'X'
	}
	for i := range res.Events[0].Metadata {
		res.Events[0].Metadata[i] = 'X'
	}
	dup, err := h.Handle(ctx, c)
	require.NoError(t, err)
	require.True(t, dup.Duplicate)
	require.Equal(t, want, string(dup.Events[0].Data), "the duplicate's events are the original ones")
	for i := range dup.Events[0].Data {
		dup.Events[0].Data[i] = 'Y'
	}
	again, err := h.Handle(ctx, c)
	require.NoError(t, err)
	require.Equal(t, want, string(again.Events[0].Data), "a duplicate's events are the caller's own too")
}

// TestUndecodableMetadataFailsTheLoad: an event whose idem metadata cannot be read
// makes the processed set incomplete; nothing may be decided on it. Loading and
// handling fail with ErrCorrupt naming the event, and nothing is written. Events
// that carry no idem metadata at all (written by another tool) are not commands and
// are folded as usual.
func TestUndecodableMetadataFailsTheLoad(t *testing.T) {
	for _, md := range []string{`{"command_id": 5}`, `{garbage`, `{"command_id":"x","fingerprint":"f","index":3,"count":1}`} {
		t.Run(md, func(t *testing.T) {
			store := memory.New()
			ctx := t.Context()
			h := newHandler(t, store)
			_, err := h.Handle(ctx, cmd{ID: "open", AggregateID: "a", Payload: Open{Owner: "o"}})
			require.NoError(t, err)
			_, err = store.Append(ctx, "account-a", eventstore.Exact(0),
				eventstore.EventData{ID: uuid.New(), Type: "account.Deposited", Data: []byte(`{"Amount":1}`), Metadata: []byte(md)})
			require.NoError(t, err)

			_, err = h.Handle(ctx, cmd{ID: "dep", AggregateID: "a", Payload: Deposit{Amount: 2}})
			require.ErrorIs(t, err, eventstore.ErrCorrupt)
			require.Contains(t, err.Error(), "account-a")
			require.Contains(t, err.Error(), "revision 1")
			require.Len(t, streamEvents(t, store, "account-a"), 2, "nothing decided, nothing written")
		})
	}
	t.Run("no metadata", func(t *testing.T) {
		store := memory.New()
		ctx := t.Context()
		_, err := store.Append(ctx, "account-a", eventstore.NoStream(),
			eventstore.EventData{ID: uuid.New(), Type: "account.Deposited", Data: []byte(`{"Amount":3}`)})
		require.NoError(t, err)
		h := newHandler(t, store)
		_, err = h.Handle(ctx, cmd{ID: "dep", AggregateID: "a", Payload: Deposit{Amount: 2}})
		require.NoError(t, err)
		st, _, err := loadAcc(h, ctx, "a")
		require.NoError(t, err)
		require.Equal(t, 5, st.Balance)
	})
}

// TestEnvelopeMustBeValidText: invalid UTF-8 in the envelope's text fields is
// refused with *InvalidCommandError naming the field, never silently replaced.
func TestEnvelopeMustBeValidText(t *testing.T) {
	h := newHandler(t, memory.New())
	base := cmd{ID: "c", AggregateID: "a", Payload: Deposit{Amount: 1}}
	cases := map[string]func(c *cmd){
		"CorrelationID": func(c *cmd) { c.CorrelationID = "bad\xff" },
		"CausationID":   func(c *cmd) { c.CausationID = "bad\xff" },
		"Metadata":      func(c *cmd) { c.Metadata = map[string]string{"k": "bad\xff"} },
	}
	for field, spoil := range cases {
		t.Run(field, func(t *testing.T) {
			c := base
			spoil(&c)
			_, err := h.Handle(t.Context(), c)
			var invalid *command.InvalidCommandError
			require.ErrorAs(t, err, &invalid)
			require.Equal(t, field, invalid.Field)
		})
	}
	c := base
	c.Metadata = map[string]string{"bad\xff": "v"}
	_, err := h.Handle(t.Context(), c)
	require.ErrorIs(t, err, command.ErrInvalidCommand, "a metadata key too")
}

// TestOversizePayloadIsRefusedEarly: a payload far above the append limit is
// refused before it is encoded, quickly and with memory bounded by a small multiple
// of the limit, not of the payload.
func TestOversizePayloadIsRefusedEarly(t *testing.T) {
	store := memory.New()
	h := newHandler(t, store)
	huge := Open{Owner: strings.Repeat("x", 100<<20)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := h.Handle(t.Context(), cmd{ID: "c", AggregateID: "a", Payload: huge})
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, command.ErrInvalidCommand)
	require.ErrorIs(t, err, eventstore.ErrAppendTooLarge)
	allocated := after.TotalAlloc - before.TotalAlloc
	require.Less(t, allocated, uint64(4*eventstore.DefaultMaxAppendSize),
		"refusing a 100 MB payload allocated %d bytes", allocated)

	// An event the decider makes from a modest payload can still be too large: it
	// is refused before the append, with the same bound (the decider's own 2 MiB
	// string aside).
	d := accountDecider()
	pad := strings.Repeat("r", 2*eventstore.DefaultMaxAppendSize)
	d.Decide = func(Account, AccountCommand) ([]AccountEvent, error) {
		return []AccountEvent{Deposited{Amount: 1, Ref: pad}}, nil
	}
	h = mustHandler(t, store, d)
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = h.Handle(t.Context(), cmd{ID: "d", AggregateID: "a", Payload: Deposit{Amount: 1}})
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, eventstore.ErrAppendTooLarge)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4*eventstore.DefaultMaxAppendSize))
	require.Empty(t, streamEvents(t, store, "account-a"))
}

// --- G4 across replicas: exactly one caller is told "applied" -------------------

const (
	replicaCommands   = 400
	replicaGoroutines = 16
)

// replicaCommand is the i-th command every replica races on.
func replicaCommand(i int) cmd {
	return cmd{ID: fmt.Sprintf("cmd-%d", i), AggregateID: fmt.Sprintf("acc-%d", i%20), Payload: Deposit{Amount: i + 1, Ref: strconv.Itoa(i)}}
}

// replicaOutcome is what one replica told its callers: per command, how many calls
// were answered as new, and the revisions its answers carried.
type replicaOutcome struct {
	fresh     map[string]int
	revisions map[string]map[uint64]bool
}

// raceReplica runs replicaGoroutines goroutines that each handle every command once,
// in an order of their own, through h.
func raceReplica(t testing.TB, h accountHandler, start <-chan struct{}) replicaOutcome {
	out := replicaOutcome{fresh: map[string]int{}, revisions: map[string]map[uint64]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range replicaGoroutines {
		wg.Go(func() {
			<-start
			for k := range replicaCommands {
				i := (k*7 + g*31) % replicaCommands
				c := replicaCommand(i)
				res, err := h.Handle(t.Context(), c)
				if err != nil {
					t.Errorf("%s: %v", c.ID, err)
					return
				}
				mu.Lock()
				if !res.Duplicate {
					out.fresh[c.ID]++
				}
				if out.revisions[c.ID] == nil {
					out.revisions[c.ID] = map[uint64]bool{}
				}
				out.revisions[c.ID][res.Revision] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// checkReplicas checks that, over all replicas, each command was answered as new
// exactly once and every answer carried the revision its events reached.
func checkReplicas(t *testing.T, store eventstore.Store, outs ...replicaOutcome) {
	t.Helper()
	total := 0
	for i := range replicaCommands {
		id := replicaCommand(i).ID
		n := 0
		revs := map[uint64]bool{}
		for _, o := range outs {
			n += o.fresh[id]
			for r := range o.revisions[id] {
				revs[r] = true
			}
		}
		require.Equal(t, 1, n, "%s: answered as new %d times", id, n)
		require.Len(t, revs, 1, "%s: every answer carries the original revision, got %v", id, revs)
		total += n
	}
	require.Equal(t, replicaCommands, total)
	deposits := 0
	for e, err := range store.ReadAll(t.Context(), eventstore.Start()) {
		require.NoError(t, err)
		if e.Type == "account.Deposited" {
			deposits++
		}
	}
	require.Equal(t, replicaCommands, deposits, "each command wrote once")
}

// TestReplicasAgreeOnWhoApplied: two handlers (as two replicas, each with a Store
// of its own on the same file or schema), 16 goroutines each, race the same 400
// commands: exactly 400 answers say "applied" in total, and every duplicate
// answer carries the original revision.
func TestReplicasAgreeOnWhoApplied(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		second, _ := reopen(t, store)
		// One replica without a cache, one with: a cached replica decides on
		// state that the other may have moved past.
		start := make(chan struct{})
		var outs [2]replicaOutcome
		var wg sync.WaitGroup
		for r, s := range []eventstore.Store{store, second} {
			h := newHandler(t, s, append(fastRetries(), command.WithCache(r*64))...)
			wg.Go(func() { outs[r] = raceReplica(t, h, start) })
		}
		close(start)
		wg.Wait()
		checkReplicas(t, store, outs[0], outs[1])
	})
}

// Environment of a replica child process.
const (
	envReplicaStore = "IDEM_TEST_REPLICA_STORE"
	envReplicaOut   = "IDEM_TEST_REPLICA_OUT"
	envReplicaStart = "IDEM_TEST_REPLICA_START"
)

// TestReplicasInTwoProcessesAgreeOnWhoApplied is the same race between two
// processes (this test binary run twice) on one SQLite file or PostgreSQL schema.
func TestReplicasInTwoProcessesAgreeOnWhoApplied(t *testing.T) {
	if spec := os.Getenv(envReplicaStore); spec != "" {
		replicaChild(t, spec)
		return
	}
	if testing.Short() {
		t.Skip("short: spawns two processes")
	}
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		_, spec := reopen(t, store)
		if spec == "" {
			t.Skip("a memory store lives in one process")
		}
		outDir := t.TempDir()
		var cmds []*exec.Cmd
		for r := range 2 {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestReplicasInTwoProcessesAgreeOnWhoApplied$", "-test.count=1")
			cmd.Env = append(os.Environ(), envReplicaStore+"="+spec, envReplicaOut+"="+filepath.Join(outDir, strconv.Itoa(r)),
				envReplicaStart+"="+strconv.FormatInt(time.Now().Add(2*time.Second).UnixNano(), 10))
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			require.NoError(t, cmd.Start())
			cmds = append(cmds, cmd)
		}
		for _, cmd := range cmds {
			require.NoError(t, cmd.Wait())
		}
		var outs []replicaOutcome
		for r := range 2 {
			outs = append(outs, readReplicaOutcome(t, filepath.Join(outDir, strconv.Itoa(r))))
		}
		checkReplicas(t, store, outs...)
	})
}

// replicaChild is one replica process: it races the commands and writes, per
// command, how many answers were new and which revisions they carried.
func replicaChild(t *testing.T, spec string) {
	h := newHandler(t, openSpec(t, spec), fastRetries()...)
	at, err := strconv.ParseInt(os.Getenv(envReplicaStart), 10, 64)
	require.NoError(t, err)
	start := make(chan struct{})
	time.AfterFunc(time.Until(time.Unix(0, at)), func() { close(start) })
	o := raceReplica(t, h, start)
	var b strings.Builder
	for id, revs := range o.revisions {
		for r := range revs {
			fmt.Fprintf(&b, "%s %d %d\n", id, o.fresh[id], r)
		}
	}
	require.NoError(t, os.WriteFile(os.Getenv(envReplicaOut), []byte(b.String()), 0o600))
}

func readReplicaOutcome(t *testing.T, path string) replicaOutcome {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	o := replicaOutcome{fresh: map[string]int{}, revisions: map[string]map[uint64]bool{}}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var id string
		var fresh int
		var rev uint64
		_, err := fmt.Sscanf(line, "%s %d %d", &id, &fresh, &rev)
		require.NoError(t, err, line)
		o.fresh[id] = fresh
		if o.revisions[id] == nil {
			o.revisions[id] = map[uint64]bool{}
		}
		o.revisions[id][rev] = true
	}
	return o
}
