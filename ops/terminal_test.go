package ops_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/idemkit/idem/ops/internal/fixture"
)

// bulkEvents is the size of the fixture the rebuild tests run on: enough batches
// (of 4096) for the progress to show several times.
const bulkEvents = 20000

var bulk struct {
	once  sync.Once
	files fixture.Files
	err   error
}

// bulkFixture returns a copy, the test's own, of the fixture with bulkEvents more
// deposits.
func bulkFixture(t *testing.T) fixture.Files {
	t.Helper()
	bulk.once.Do(func() {
		dir, err := os.MkdirTemp("", "ops-bulk-")
		if err != nil {
			bulk.err = err
			return
		}
		bulk.files, bulk.err = fixture.Build(context.Background(), dir, bulkEvents)
	})
	if bulk.err != nil {
		t.Fatal(bulk.err)
	}
	dir := t.TempDir()
	f := fixture.Files{Store: filepath.Join(dir, "events.db"), Read: filepath.Join(dir, "events.db.read")}
	copyFile(t, bulk.files.Store, f.Store)
	copyFile(t, bulk.files.Read, f.Read)
	return f
}

// slowly makes the balances handler take 50µs an event in a rebuild, so that a
// rebuild of the bulk fixture lasts about a second.
var slowly = fixture.DelayEnv + "=50us"

// withoutNoColor is the environment without NO_COLOR, with a terminal that
// shows colors.
func withoutNoColor(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NO_COLOR=") && !strings.HasPrefix(kv, "TERM=") {
			env = append(env, kv)
		}
	}
	return append(append(env, "TERM=xterm-256color"), extra...)
}

// onTerminal runs the test application with its standard error on a pseudo-
// terminal and its standard output on a pipe, and returns what each received.
func onTerminal(t *testing.T, env []string, args ...string) (tty, stdout string, code int) {
	t.Helper()
	ptmx, tt, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(appBin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, tt
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tt.Close() // the child holds it now: reading ends when the child exits
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(&screen, ptmx) // ends with EIO once the child has closed it
		close(done)
	}()
	err = cmd.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal was not closed")
	}
	code = 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return screen.String(), out.String(), code
}

// TestRebuildDrawsAProgressBarOnATerminal: on a terminal, rebuild draws a
// progress bar that moves (several frames, with events per second and the time
// left), ends at 100% on a line of its own, in color unless NO_COLOR is set; the
// result alone goes to standard output.
func TestRebuildDrawsAProgressBarOnATerminal(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   []string
		color bool
	}{{"color", withoutNoColor(slowly), true}, {"NO_COLOR", withoutNoColor(slowly, "NO_COLOR=1"), false}} {
		t.Run(c.name, func(t *testing.T) {
			f := bulkFixture(t)
			screen, stdout, code := onTerminal(t, c.env, "--store", f.Store, "--read", f.Read, "rebuild", "balances")
			if code != 0 {
				t.Fatalf("exit status %d; terminal:\n%q", code, screen)
			}
			frames := strings.Split(screen, "\r")
			var drawn int
			for _, fr := range frames {
				if strings.Contains(fr, "rebuild balances") && strings.Contains(fr, "%") && strings.Contains(fr, "events/s") {
					drawn++
				}
			}
			if drawn < 3 {
				t.Errorf("%d frames of a bar with a rate drawn, want several; terminal:\n%q", drawn, screen)
			}
			if !strings.Contains(screen, "100%") || !strings.HasSuffix(screen, "\n") {
				t.Errorf("the bar does not end at 100%% on a line of its own; terminal ends %q", screen[max(0, len(screen)-200):])
			}
			if !strings.Contains(screen, ", ETA ") || !strings.Contains(screen, ", lag ") {
				t.Errorf("no lag or time left shown: %q", screen)
			}
			if got := strings.Contains(screen, "\x1b[32m"); got != c.color {
				t.Errorf("colored %v, want %v", got, c.color)
			}
			if !strings.HasPrefix(stdout, "rebuilt balances: generation 2 (version 1) is live") || strings.Count(stdout, "\n") != 1 {
				t.Errorf("stdout %q: want the result line alone", stdout)
			}
		})
	}
}

// TestRebuildPrintsPlainLinesWhenNotATerminal: with standard error on a pipe,
// progress is plain lines (no carriage return, no escape sequence), and the
// result alone goes to standard output.
func TestRebuildPrintsPlainLinesWhenNotATerminal(t *testing.T) {
	f := bulkFixture(t)
	r := app(t, f, withoutNoColor(fixture.DelayEnv+"=100us"), "rebuild", "balances")
	if r.code != 0 {
		t.Fatalf("exit status %d: %s", r.code, r.stderr)
	}
	if strings.ContainsAny(r.stderr, "\r\x1b") {
		t.Errorf("stderr holds terminal controls: %q", r.stderr)
	}
	var lines []string // the progress lines, among the runner's warnings (the parked poison deposit)
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if strings.HasPrefix(l, "rebuild balances: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 || !strings.Contains(lines[0], "events/s, ETA") || !strings.HasPrefix(lines[len(lines)-1], "rebuild balances: caught up: 20") {
		t.Errorf("stderr %q: want progress lines, then the caught-up line", r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "rebuilt balances: generation 2") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("stdout %q: want the result line alone", r.stdout)
	}
}

// activeGeneration reads which generation of name readers read.
func activeGeneration(t *testing.T, path, name string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var g int
	if err := db.QueryRow(`SELECT generation FROM idem_projection_generations WHERE name = ? AND state = 'active'`, name).Scan(&g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestRebuildInterruptedLeavesTheLiveGeneration: Ctrl-C on the terminal in the
// middle of a rebuild stops it with status 1 and a message saying so; readers
// still read the old generation, unchanged; a second rebuild resumes the partial
// one and switches readers to it.
func TestRebuildInterruptedLeavesTheLiveGeneration(t *testing.T) {
	f := bulkFixture(t)
	before := readTable(t, f.Read, "balances")
	cmd := exec.Command(appBin, "--store", f.Store, "--read", f.Read, "rebuild", "balances")
	cmd.Env = withoutNoColor(fixture.DelayEnv + "=200us")
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		started := strings.Contains(screen.String(), "events/s")
		mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress drawn")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := ptmx.Write([]byte{3}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	err = cmd.Wait()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1", err)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	out := screen.String()
	mu.Unlock()
	if !strings.Contains(out, "rebuild of balances stopped: the live generation is untouched; run rebuild again to resume") {
		t.Errorf("terminal: %q", out)
	}
	if g := activeGeneration(t, f.Read, "balances"); g != 1 {
		t.Fatalf("readers read generation %d after the interrupted rebuild, want 1", g)
	}
	if got := readTable(t, f.Read, "balances"); got != before {
		t.Fatal("the live read model changed")
	}
	r := app(t, f, nil, "rebuild", "balances")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "rebuilt balances: generation 2 (version 1) is live") {
		t.Fatalf("second rebuild: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if got := readTable(t, f.Read, "balances"); got != before {
		t.Fatalf("the rebuilt read model differs:\n%s\nwant\n%s", got, before)
	}
}

// readTable renders the rows of a view of the read model.
func readTable(t *testing.T, path, view string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT * FROM ` + view + ` ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if b2, ok := v.([]byte); ok {
				v = string(b2)
			}
			b.WriteString(strings.TrimSpace(strings.ReplaceAll(fmt.Sprint(v), "\n", " ")) + "\t")
		}
		b.WriteString("\n")
	}
	return b.String()
}
