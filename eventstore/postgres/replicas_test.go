package postgres_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// G4 across replicas on one PostgreSQL database: exactly one caller in all is
// told "applied". The shape of command's TestReplicasAgreeOnWhoApplied and
// TestReplicasInTwoProcessesAgreeOnWhoApplied.

const (
	replicaCommands   = 400
	replicaGoroutines = 16
)

// replicaCommand is the i-th command every replica races on: 400 commands over 20
// accounts, so that replicas also conflict with each other's other commands.
func replicaCommand(i int) accountCmd {
	return accountCmd{ID: fmt.Sprintf("cmd-%d", i), AggregateID: fmt.Sprintf("acc-%d", i%20),
		Payload: deposit{Amount: i + 1, Ref: strconv.Itoa(i)}}
}

// replicaOutcome is what one replica told its callers: per command, how many calls
// were answered as new, and the revisions its answers carried.
type replicaOutcome struct {
	fresh     map[string]int
	revisions map[string]map[uint64]bool
}

// raceReplica runs replicaGoroutines goroutines that each handle every command
// once, in an order of their own, through h.
func raceReplica(t testing.TB, h accountHandler, start <-chan struct{}) replicaOutcome {
	out := replicaOutcome{fresh: map[string]int{}, revisions: map[string]map[uint64]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range replicaGoroutines {
		wg.Go(func() {
			<-start
			for k := range replicaCommands {
				c := replicaCommand((k*7 + g*31) % replicaCommands)
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
// exactly once and every answer carried the revision its events reached, and
// returns the number of answers that said "applied".
func checkReplicas(t *testing.T, store eventstore.Store, outs ...replicaOutcome) int {
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
	deposits := 0
	for e, err := range store.ReadAll(t.Context(), eventstore.Start()) {
		require.NoError(t, err)
		if e.Type == "account.Deposited" {
			deposits++
		}
	}
	require.Equal(t, replicaCommands, deposits, "each command wrote once")
	return total
}

// TestReplicasAgreeOnWhoApplied: two handlers on one PostgreSQL schema (two
// replicas, each with a Store and pool of its own; one with an aggregate cache,
// one without), 16 goroutines each, race the same 400 commands: exactly 400
// answers say "applied" in total, and every duplicate answer carries the
// original revision.
func TestReplicasAgreeOnWhoApplied(t *testing.T) {
	schema := pgtest.Schema(t)
	start := make(chan struct{})
	var outs [2]replicaOutcome
	var wg sync.WaitGroup
	var first eventstore.Store
	for r := range outs {
		store := pgtest.OpenSchema(t, schema)
		if first == nil {
			first = store
		}
		h := newAccountHandler(t, store, append(fastRetries(), command.WithCache(r*64))...)
		wg.Go(func() { outs[r] = raceReplica(t, h, start) })
	}
	close(start)
	wg.Wait()
	applied := checkReplicas(t, first, outs[0], outs[1])
	require.Equal(t, replicaCommands, applied)
	t.Logf("in-process replicas: %d of %d commands answered as applied exactly once", applied, replicaCommands)
}

// Environment of a replica child process.
const (
	envReplicaSchema = "IDEM_TEST_PG_REPLICA_SCHEMA"
	envReplicaOut    = "IDEM_TEST_PG_REPLICA_OUT"
	envReplicaStart  = "IDEM_TEST_PG_REPLICA_START"
)

// TestReplicasInTwoProcessesAgreeOnWhoApplied is the same race between two
// processes (this test binary run twice) on one PostgreSQL schema.
func TestReplicasInTwoProcessesAgreeOnWhoApplied(t *testing.T) {
	if schema := os.Getenv(envReplicaSchema); schema != "" {
		replicaChild(t, schema)
		return
	}
	if testing.Short() {
		t.Skip("short: spawns two processes")
	}
	schema := pgtest.Schema(t)
	store := pgtest.OpenSchema(t, schema) // creates the schema before the children race
	outDir := t.TempDir()
	var children []*exec.Cmd
	startAt := time.Now().Add(3 * time.Second).UnixNano()
	for r := range 2 {
		c := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestReplicasInTwoProcessesAgreeOnWhoApplied$", "-test.count=1")
		c.Env = append(os.Environ(), envReplicaSchema+"="+schema, envReplicaOut+"="+filepath.Join(outDir, strconv.Itoa(r)),
			envReplicaStart+"="+strconv.FormatInt(startAt, 10))
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		require.NoError(t, c.Start())
		children = append(children, c)
	}
	for _, c := range children {
		require.NoError(t, c.Wait())
	}
	var outs []replicaOutcome
	for r := range 2 {
		outs = append(outs, readReplicaOutcome(t, filepath.Join(outDir, strconv.Itoa(r))))
	}
	applied := checkReplicas(t, store, outs...)
	require.Equal(t, replicaCommands, applied)
	t.Logf("two processes: %d of %d commands answered as applied exactly once", applied, replicaCommands)
}

// replicaChild is one replica process: it races the commands and writes, per
// command, how many answers were new and which revisions they carried.
func replicaChild(t *testing.T, schema string) {
	store := pgtest.OpenSchema(t, schema)
	h := newAccountHandler(t, store, fastRetries()...)
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
