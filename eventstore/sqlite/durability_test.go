package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

// durabilityEnv names the database file the child process appends to.
const durabilityEnv = "IDEM_SQLITE_DURABILITY_DB"

// ack is one acknowledged append reported by the child.
type ack struct {
	stream   string
	revision uint64
	id       uuid.UUID
}

// TestDurabilityUnderSIGKILL re-executes the test binary as a child that appends
// events from several goroutines and prints every acknowledged append; the parent
// kills it with SIGKILL at random moments, then checks that the file passes
// PRAGMA integrity_check and holds every acknowledged event at its revision (G11),
// and restarts the child on the same file.
func TestDurabilityUnderSIGKILL(t *testing.T) {
	if os.Getenv(durabilityEnv) != "" {
		t.Skip("running as the child")
	}
	const kills = 24
	path := filepath.Join(t.TempDir(), "events.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var acked []ack
	for round := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), durabilityEnv+"="+path, "IDEM_SQLITE_DURABILITY_RUN="+strconv.Itoa(round))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan ack, 1024)
		first := make(chan struct{})
		var readErr error
		var wg sync.WaitGroup
		wg.Go(func() { readErr = readAcks(out, lines, first) })
		var got []ack
		collected := make(chan struct{})
		go func() {
			defer close(collected)
			for a := range lines {
				got = append(got, a)
			}
		}()

		// Half the kills land at a random moment after the child's start (it may
		// still be opening the file), half while acknowledgements are flowing.
		if round%2 == 0 {
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		} else {
			select {
			case <-first:
			case <-time.After(10 * time.Second):
				t.Fatal("the child acknowledged nothing in 10s")
			}
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		wg.Wait()
		_ = cmd.Wait()
		<-collected
		if readErr != nil {
			t.Fatalf("round %d: reading the child's output: %v", round, readErr)
		}
		acked = append(acked, got...)
		checkDurable(t, path, acked)
		t.Logf("round %d: %d acknowledged appends, %d in total, all present", round, len(got), len(acked))
	}
	if len(acked) == 0 {
		t.Fatal("no append was ever acknowledged")
	}
}

// readAcks parses the child's "ack <stream> <revision> <id>" lines.
func readAcks(r io.Reader, lines chan<- ack, first chan<- struct{}) error {
	defer close(lines)
	sc := bufio.NewScanner(r)
	signalled := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ack" {
			continue // test framework output
		}
		rev, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		id, err := uuid.Parse(f[3])
		if err != nil {
			return fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		lines <- ack{stream: f[1], revision: rev, id: id}
		if !signalled {
			signalled = true
			close(first)
		}
	}
	return sc.Err()
}

// checkDurable opens the file after a kill: integrity_check must say ok, and every
// acknowledged append must be stored with its id at its revision.
func checkDurable(t *testing.T, path string, acked []ack) {
	t.Helper()
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if len(acked) > 0 {
			t.Fatalf("the file is gone but %d appends were acknowledged", len(acked))
		}
		return
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	var result string
	err = db.QueryRow("PRAGMA integrity_check").Scan(&result)
	db.Close()
	if err != nil || result != "ok" {
		t.Fatalf("integrity_check: %q, %v", result, err)
	}

	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer s.Close()
	for _, a := range acked {
		found := false
		for e, err := range s.ReadStream(ctx, a.stream, a.revision, eventstore.Limit(1)) {
			if err != nil {
				t.Fatalf("acknowledged %s@%d (%s): %v", a.stream, a.revision, a.id, err)
			}
			if e.Revision != a.revision || e.ID != a.id {
				t.Fatalf("acknowledged %s@%d is %s, stored %s@%d is %s", a.stream, a.revision, a.id, e.Stream, e.Revision, e.ID)
			}
			found = true
		}
		if !found {
			t.Fatalf("acknowledged %s@%d (%s) is missing", a.stream, a.revision, a.id)
		}
	}
}

// TestDurabilityChild is the child of TestDurabilityUnderSIGKILL: it appends until
// killed, printing each acknowledged append. It does nothing in a normal run.
func TestDurabilityChild(t *testing.T) {
	path := os.Getenv(durabilityEnv)
	if path == "" {
		t.Skip("only run as the child of TestDurabilityUnderSIGKILL")
	}
	run := os.Getenv("IDEM_SQLITE_DURABILITY_RUN")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path) // synchronous=FULL, the default
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	report := func(stream string, rev uint64, id uuid.UUID) {
		out.Lock()
		defer out.Unlock()
		// One unbuffered write per line, after Append returned: what the parent
		// reads was acknowledged.
		fmt.Fprintf(os.Stdout, "ack %s %d %s\n", stream, rev, id)
	}
	const goroutines = 8
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			stream := fmt.Sprintf("run%s-g%d", run, g)
			expected := eventstore.NoStream()
			for i := 0; ; i++ {
				evs := []eventstore.EventData{newEvent("Appended")}
				if i%5 == 4 {
					evs = append(evs, newEvent("Appended"), newEvent("Appended"))
				}
				res, err := s.Append(ctx, stream, expected, evs...)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child: append:", err)
					os.Exit(3)
				}
				first := res.Revision + 1 - uint64(len(evs))
				for k, e := range evs {
					report(stream, first+uint64(k), e.ID)
				}
				expected = eventstore.Exact(res.Revision)
				// A shared stream too, so batches hold appends to one stream.
				if i%3 == 0 {
					e := newEvent("Shared")
					res, err := s.Append(ctx, "run"+run+"-shared", eventstore.Any(), e)
					if err != nil {
						fmt.Fprintln(os.Stderr, "child: append shared:", err)
						os.Exit(3)
					}
					report("run"+run+"-shared", res.Revision, e.ID)
				}
			}
		})
	}
	wg.Wait()
}
