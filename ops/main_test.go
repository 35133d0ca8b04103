package ops_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/idemkit/idem/ops/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite the golden files of the ops listings")

// Built once by TestMain: the binaries, and the fixture the listings read.
var (
	idemBin, appBin string
	base            fixture.Files
)

// TestMain builds cmd/idem and the test application (a binary that mounts the
// ops commands with the fixture's projections) and the fixture, once.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "ops-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := setUp(dir)
	if code == 0 {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func setUp(dir string) int {
	idemBin, appBin = filepath.Join(dir, "idem"), filepath.Join(dir, "testapp")
	for bin, pkg := range map[string]string{idemBin: "github.com/idemkit/idem/cmd/idem", appBin: "github.com/idemkit/idem/ops/internal/fixture/testapp"} {
		args := append(append([]string{"build"}, buildFlags...), "-o", bin, pkg)
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			return 2
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "fixture"), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var err error
	if base, err = fixture.Build(context.Background(), filepath.Join(dir, "fixture"), 0); err != nil {
		fmt.Fprintf(os.Stderr, "build the fixture: %v\n", err)
		return 2
	}
	return 0
}

// copyFixture copies the fixture's files into a directory of the test's own, for
// tests that write.
func copyFixture(t *testing.T) fixture.Files {
	t.Helper()
	dir := t.TempDir()
	f := fixture.Files{Store: filepath.Join(dir, "events.db"), Read: filepath.Join(dir, "events.db.read")}
	for from, to := range map[string]string{base.Store: f.Store, base.Read: f.Read} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// result is what a run of a binary printed and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

// run runs bin with args and the extra environment env, standard input empty.
func run(t *testing.T, env []string, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, strings.NewReader("")
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s %v: %v", bin, args, err)
	}
	return r
}

// idem runs cmd/idem on files.
func idem(t *testing.T, f fixture.Files, args ...string) result {
	t.Helper()
	return run(t, nil, idemBin, append([]string{"--store", f.Store, "--read", f.Read}, args...)...)
}

// app runs the test application on files, with env.
func app(t *testing.T, f fixture.Files, env []string, args ...string) result {
	t.Helper()
	return run(t, env, appBin, append([]string{"--store", f.Store, "--read", f.Read}, args...)...)
}

// nowTime matches the times a listing shows that the fixture's clock did not
// make (the read model records its own times), and the run's temporary paths.
var (
	nowTime = regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	epoch   = fixture.Epoch.Format("2006-01-02")
)

// scrub replaces what differs from run to run: times not from the fixture's
// clock, and the fixture's directory.
func scrub(s string) string {
	s = nowTime.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, epoch) {
			return m
		}
		return "<now>"
	})
	return strings.ReplaceAll(s, filepath.Dir(base.Store), "<fixture>")
}

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(scrub(got)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	sameAsGolden(t, name, got)
}

// sameAsGolden compares got, scrubbed, with testdata/name.golden, never
// rewriting it: for the listings of another backend, which must print what the
// SQLite fixture's do.
func sameAsGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	got = scrub(got)
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ops -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// hashes returns the SHA-256 of each file.
func hashes(t *testing.T, paths ...string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		out[p] = [32]byte(h.Sum(nil))
	}
	return out
}
