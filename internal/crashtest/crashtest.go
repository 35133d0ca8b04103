// Package crashtest is the harness of the projection targets' crash tests: it
// runs a child test of the test binary as a process, kills it (SIGKILL) again
// and again while it applies events, restarts it, and lets the last run finish,
// so that the test can then check that every event was applied exactly once.
//
// The parent test calls Run with the name of the child test. The child test
// calls Child first (it skips unless Run started it), then Point after the
// writes of each event, before the commit: in half the killed runs Run asks the
// child to stop at a chosen Point and kills it there, between apply and commit;
// in the others it kills it at a random moment once it has made progress.
package crashtest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Environment of a child: envChild marks it, envPause is the Point it stops at
// (0: none).
const (
	envChild = "IDEM_CRASHTEST_CHILD"
	envPause = "IDEM_CRASHTEST_PAUSE_AT"
)

// pausedMarker is the line a child prints when it stops at a Point.
const pausedMarker = "idem-crashtest: paused"

// Config describes a crash test.
type Config struct {
	// Test is the name of the child test (run alone, with -test.run=^Test$).
	Test string
	// Env is added to the environment of every child; RunEnv, if set, adds to
	// that of one run (a random batch size, say).
	Env    []string
	RunEnv func(rng *rand.Rand) []string
	// Progress reads how far the child got, durably (its checkpoint): 0 before
	// anything is committed, Done once it has finished.
	Progress func() uint64
	Done     uint64
	// Kills is how many times a child is killed before one is let finish.
	Kills int
	// MaxPause bounds the Point a paused run stops at (1 to MaxPause): keep it
	// well below the events left for each run.
	MaxPause int
	// Seed seeds the choices of batch sizes, pauses and delays.
	Seed uint64
}

// EnvSeed, set to a number, is the seed Seed returns: to run again a crash test
// that failed with the seed it logged.
const EnvSeed = "IDEM_CRASHTEST_SEED"

// Seed returns a new seed for Config.Seed, or the one EnvSeed gives, and logs it.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed, err := strconv.ParseUint(os.Getenv(EnvSeed), 10, 64)
	if err != nil {
		seed = rand.Uint64()
	}
	t.Logf("crash test seed %d (%s=%d runs it again)", seed, EnvSeed, seed)
	return seed
}

// Result counts what Run did.
type Result struct {
	// Runs counts the children started; Kills those killed, Paused those killed
	// at a Point, Midway those whose progress was strictly between 0 and Done
	// after the kill.
	Runs, Kills, Paused, Midway int
}

// String sums the result up for a test's log.
func (r Result) String() string {
	return fmt.Sprintf("%d runs, %d kills (%d between apply and commit, %d at random moments), %d in the middle of the log",
		r.Runs, r.Kills, r.Paused, r.Kills-r.Paused, r.Midway)
}

// Run runs the crash test c describes and returns what it did, failing t if a
// child fails, never finishes, or has not reached Done in the end.
func Run(t testing.TB, c Config) Result {
	t.Helper()
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x5bd1e995))
	var res Result
	for res.Kills < c.Kills {
		if res.Runs > 3*c.Kills+10 {
			t.Fatalf("crash test: %v, and the children keep finishing before they are killed", res)
		}
		pause := 0
		if res.Kills%2 == 0 && c.MaxPause > 0 {
			pause = 1 + rng.IntN(c.MaxPause)
		}
		finished := runOnce(t, c, rng, pause, &res)
		if finished {
			break
		}
	}
	if p := c.Progress(); p != c.Done {
		// The last run is let finish.
		res.Runs++
		ch := start(t, c, rng, 0)
		if err := ch.wait(2 * time.Minute); err != nil {
			t.Fatalf("crash test: the last child failed: %v\n%s", err, ch.stderr.String())
		}
	}
	if p := c.Progress(); p != c.Done {
		t.Fatalf("crash test: progress %d after the last run, want %d", p, c.Done)
	}
	return res
}

// runOnce starts a child and kills it, at Point pause if pause > 0, at a random
// moment otherwise; it reports whether the child finished before it could be
// killed.
func runOnce(t testing.TB, c Config, rng *rand.Rand, pause int, res *Result) bool {
	t.Helper()
	res.Runs++
	before := c.Progress()
	ch := start(t, c, rng, pause)
	if pause > 0 {
		select {
		case <-ch.out.paused:
		case <-ch.done:
			return ch.finished(t)
		case <-time.After(time.Minute):
			ch.kill()
			t.Fatalf("crash test: the child never reached Point %d\n%s", pause, ch.stderr.String())
		}
	} else if !ch.progressed(c.Progress, before) {
		return ch.finished(t)
	}
	if pause == 0 {
		select {
		case <-ch.done:
			return ch.finished(t)
		case <-time.After(time.Duration(rng.IntN(40)) * time.Millisecond):
		}
	}
	if !ch.kill() {
		return ch.finished(t)
	}
	res.Kills++
	if pause > 0 {
		res.Paused++
	}
	if p := c.Progress(); p > 0 && p < c.Done {
		res.Midway++
	}
	return false
}

// child is one run of the child test.
type child struct {
	cmd    *exec.Cmd
	out    *markerWriter
	stderr bytes.Buffer // read after done
	done   chan struct{}
	err    error // set before done is closed
}

func start(t testing.TB, c Config, rng *rand.Rand, pause int) *child {
	t.Helper()
	ch := &child{out: &markerWriter{paused: make(chan struct{}, 1)}, done: make(chan struct{})}
	ch.cmd = exec.Command(os.Args[0], "-test.run=^"+c.Test+"$", "-test.count=1")
	env := append(os.Environ(), envChild+"=1", envPause+"="+strconv.Itoa(pause))
	env = append(env, c.Env...)
	if c.RunEnv != nil {
		env = append(env, c.RunEnv(rng)...)
	}
	ch.cmd.Env = env
	ch.cmd.Stdout, ch.cmd.Stderr = ch.out, &ch.stderr
	if err := ch.cmd.Start(); err != nil {
		t.Fatalf("crash test: start the child: %v", err)
	}
	go func() {
		ch.err = ch.cmd.Wait()
		close(ch.done)
	}()
	return ch
}

// progressed waits until progress moves past before, or the child ends (false).
func (ch *child) progressed(progress func() uint64, before uint64) bool {
	deadline := time.Now().Add(time.Minute)
	for progress() == before && time.Now().Before(deadline) {
		select {
		case <-ch.done:
			return false
		case <-time.After(2 * time.Millisecond):
		}
	}
	return true
}

// kill kills the child and waits for it; false if it had exited by itself.
func (ch *child) kill() bool {
	_ = ch.cmd.Process.Kill()
	<-ch.done
	var exit *exec.ExitError
	return errors.As(ch.err, &exit) && !exit.Exited()
}

// finished fails t unless the child, which has ended, succeeded.
func (ch *child) finished(t testing.TB) bool {
	t.Helper()
	<-ch.done
	if ch.err != nil {
		t.Fatalf("crash test: the child failed: %v\n%s\n%s", ch.err, ch.out.text(), ch.stderr.String())
	}
	return true
}

// wait waits for the child to end, killing it after d.
func (ch *child) wait(d time.Duration) error {
	select {
	case <-ch.done:
		return ch.err
	case <-time.After(d):
		ch.kill()
		return fmt.Errorf("still running after %v", d)
	}
}

// markerWriter keeps a child's standard output and signals the paused marker.
type markerWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	paused chan struct{}
}

func (w *markerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte(pausedMarker)) {
		select {
		case w.paused <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (w *markerWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// Child skips t unless Run started this process.
func Child(t testing.TB) {
	t.Helper()
	if os.Getenv(envChild) == "" {
		t.Skip("the child process of a crash test")
	}
}

// points counts the calls of Point in this process; pauseAt is the call Run
// asked the child to stop at (0: none).
var (
	points  atomic.Int64
	pauseAt = sync.OnceValue(func() int64 {
		at, _ := strconv.ParseInt(os.Getenv(envPause), 10, 64)
		return at
	})
)

// Point marks a moment a child may be killed at: after an event's writes, before
// the commit. When Run asked this child to stop at this call, Point says so on
// standard output and blocks until the process is killed.
func Point() {
	n := points.Add(1)
	if at := pauseAt(); at > 0 && n == at {
		fmt.Println(pausedMarker)
		time.Sleep(time.Hour)
	}
}
