package esdb_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// clientModule is the client whose own test suite runs against the emulator, at the
// version idem's go.mod requires.
const clientModule = "github.com/EventStore/EventStore-Client-Go/v4"

// TestClientSuite runs EventStore-Client-Go's own esdb tests against the emulator,
// so that the emulator cannot drift from what the client's authors test against a
// real server without a test failing. The client's test files are copied, at test
// time, from the module cache into a temporary module; its containers_test.go, which
// starts a Docker image, is replaced by testdata/clientsuite/emulator_test.go, which
// starts esdbtest servers. Nothing of the client's is stored in idem's repository.
// The tests that do not apply are listed, with why, in clientsuite_list_test.go.
//
// It skips when the client's sources are not in the module cache (go mod download
// puts them there), except under CI=true, where it fails instead.
func TestClientSuite(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		skipOrFail(t, "no go command on PATH to run the client's suite with")
	}
	root, err := goOutput(goBin, ".", "env", "GOMOD")
	if err != nil || root == "" || root == os.DevNull {
		t.Fatalf("find idem's go.mod: %q, %v", root, err)
	}
	root = filepath.Dir(root)
	info, err := goOutput(goBin, root, "list", "-m", "-f", "{{.Dir}}|{{.Version}}", clientModule)
	clientDir, version, _ := strings.Cut(info, "|")
	if err != nil || clientDir == "" {
		skipOrFail(t, fmt.Sprintf("%s is not in the module cache (%v); run: go mod download -x %s",
			clientModule, err, strings.TrimSuffix(clientModule+"@"+version, "@")))
	}
	tests, _ := filepath.Glob(filepath.Join(clientDir, "esdb", "*_test.go"))
	if len(tests) == 0 {
		skipOrFail(t, fmt.Sprintf("no esdb/*_test.go in %s: the client's module has no tests to run", clientDir))
	}

	work := t.TempDir()
	sources := writeSuiteModule(t, root, clientDir, work)
	checkSuiteList(t, sources, root)

	start := time.Now()
	results, output := runSuite(t, goBin, work)
	report(t, version, results, output, time.Since(start))
}

// skipOrFail skips the test with reason, or fails it under CI, where the client's
// sources must be there (CI runs go mod download first).
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("client suite cannot run, and CI=true forbids skipping it: %s", reason)
	}
	t.Skipf("client suite not run: %s", reason)
}

// goOutput runs the go command in dir and returns its trimmed standard output.
func goOutput(goBin, dir string, args ...string) (string, error) {
	cmd := exec.Command(goBin, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// writeSuiteModule lays out the temporary module in work: idem's requirements and
// checksums, idem itself replaced by the working tree at root, the client's esdb
// test files less containers_test.go, the test data they read (../resources/test)
// and the emulator shim. It returns the client's test sources, by file name.
func writeSuiteModule(t *testing.T, root, clientDir, work string) map[string]string {
	t.Helper()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod := regexp.MustCompile(`(?m)^module .*$`).ReplaceAllString(string(gomod), "module idem.test/clientsuite")
	mod += "\nrequire github.com/idemkit/idem v0.0.0-00010101000000-000000000000\n" +
		"\nreplace github.com/idemkit/idem => " + root + "\n"
	writeFile(t, filepath.Join(work, "go.mod"), []byte(mod))
	copyFile(t, filepath.Join(root, "go.sum"), filepath.Join(work, "go.sum"))

	sources := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(clientDir, "esdb", "*_test.go"))
	for _, f := range files {
		name := filepath.Base(f)
		if name == "containers_test.go" {
			continue // starts Docker; the shim stands in for it
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources[name] = string(src)
		writeFile(t, filepath.Join(work, "esdb", name), src)
	}
	data, _ := filepath.Glob(filepath.Join(clientDir, "resources", "test", "*"))
	for _, f := range data {
		copyFile(t, f, filepath.Join(work, "resources", "test", filepath.Base(f)))
	}
	copyFile(t, filepath.Join("testdata", "clientsuite", "emulator_test.go"), filepath.Join(work, "esdb", "emulator_shim_test.go"))
	return sources
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, data)
}

// topLevelTest matches a top-level test function of the client's suite.
var topLevelTest = regexp.MustCompile(`(?m)^func (Test\w*)\(t \*testing\.T\)`)

// checkSuiteList keeps clientsuite_list_test.go honest: every top-level test of the
// client's is either run or listed, every listed name exists in the client's sources,
// and every rewrite named exists in esdbtest.
func checkSuiteList(t *testing.T, sources map[string]string, root string) {
	t.Helper()
	all := strings.Join(slices.Collect(mapValues(sources)), "\n")
	for _, m := range topLevelTest.FindAllStringSubmatch(all, -1) {
		name := m[1]
		if slices.Contains(clientSuiteRuns, name) {
			continue
		}
		if !slices.ContainsFunc(notRun, func(n notRunTest) bool { return matchesTopLevel(n.test, name) }) {
			t.Errorf("the client's suite has a top-level test %s that clientsuite_list_test.go neither runs nor lists: decide whether it applies to the emulator", name)
		}
	}
	rewrites := esdbtestSources(t, root)
	for _, n := range append(slices.Clone(notRun), notStarted...) {
		switch {
		case strings.Contains(n.test, "/"):
			leaf := n.test[strings.LastIndex(n.test, "/")+1:]
			if !strings.Contains(all, `t.Run("`+leaf+`"`) {
				t.Errorf("clientsuite_list_test.go lists %s, but the client's suite has no subtest %q", n.test, leaf)
			}
		case strings.HasSuffix(n.test, "*"):
			if !strings.Contains(all, "func "+strings.TrimSuffix(n.test, "*")) {
				t.Errorf("clientsuite_list_test.go lists %s, but no test of the client's starts so", n.test)
			}
		default:
			if !strings.Contains(all, "func "+n.test+"(") {
				t.Errorf("clientsuite_list_test.go lists %s, but the client's suite has no such function", n.test)
			}
		}
		if n.rewrite != "" && !strings.Contains(rewrites, "func "+n.rewrite+"(t *testing.T)") {
			t.Errorf("clientsuite_list_test.go names %s as the rewrite of %s, but esdbtest has no such test", n.rewrite, n.test)
		}
	}
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// matchesTopLevel reports whether a notRun entry covers the top-level test name.
func matchesTopLevel(entry, name string) bool {
	if prefix, ok := strings.CutSuffix(entry, "*"); ok {
		return strings.HasPrefix(name, prefix)
	}
	return entry == name
}

// esdbtestSources returns the text of esdbtest's tests, where the rewrites live.
func esdbtestSources(t *testing.T, root string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "eventstore", "esdb", "esdbtest", "*_test.go"))
	var b strings.Builder
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}

// skipPattern is the -skip pattern that leaves out the listed subtests: one
// alternative per subtest, each element anchored.
func skipPattern() string {
	var alts []string
	for _, n := range notRun {
		if !strings.Contains(n.test, "/") {
			continue
		}
		var elems []string
		for _, e := range strings.Split(n.test, "/") {
			elems = append(elems, "^"+regexp.QuoteMeta(e)+"$")
		}
		alts = append(alts, strings.Join(elems, "/"))
	}
	return strings.Join(alts, "|")
}

// testEvent is one line of go test -json.
type testEvent struct {
	Action string
	Test   string
	Output string
}

// runSuite runs the client's suite in work and returns each test's last action
// (pass, fail or skip) and its output.
func runSuite(t *testing.T, goBin, work string) (results map[string]string, output map[string]*strings.Builder) {
	t.Helper()
	args := []string{"test", "-count=1", "-json", "-timeout=5m",
		"-run=^(" + strings.Join(clientSuiteRuns, "|") + ")$", "-skip=" + skipPattern()}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, "./esdb")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"GOWORK=off", "GOPROXY=off", "GOTOOLCHAIN=local", // the module cache has all it needs
		"GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"),
		"EVENTSTORE_INSECURE=true", "CLUSTER=false", // the client's own mode switches
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	results = map[string]string{}
	output = map[string]*strings.Builder{}
	var raw strings.Builder // lines that are not test events: build output
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev testEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			raw.WriteString(sc.Text() + "\n")
			continue
		}
		if ev.Test == "" {
			if ev.Action == "output" || ev.Action == "build-output" {
				raw.WriteString(ev.Output)
			}
			continue
		}
		switch ev.Action {
		case "output":
			if output[ev.Test] == nil {
				output[ev.Test] = &strings.Builder{}
			}
			output[ev.Test].WriteString(ev.Output)
		case "pass", "fail", "skip":
			results[ev.Test] = ev.Action
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	waitErr := cmd.Wait()
	var exit *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exit) {
		t.Fatalf("go %s: %v", strings.Join(args, " "), waitErr)
	}
	if waitErr != nil && !slices.Contains(slices.Collect(mapValues(results)), "fail") {
		// Failed without a failing test: the build, or the run itself.
		t.Fatalf("the client's suite did not run: %v\n%s%s", waitErr, raw.String(), stderr.String())
	}
	return results, output
}

// raceEnabled reports whether this test binary was built with -race: the client's
// suite then runs with it too.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// isGroup reports whether name is a test that runs subtests: one whose subtests ran,
// or one whose subtests are all left out by the -skip pattern (it then passes
// empty).
func isGroup(name string, results map[string]string) bool {
	for other := range results {
		if strings.HasPrefix(other, name+"/") {
			return true
		}
	}
	return slices.ContainsFunc(notRun, func(n notRunTest) bool { return strings.HasPrefix(n.test, name+"/") })
}

// report fails the test for every client test that failed or skipped itself (an
// applicable test that skips has found the emulator lacking something), and logs
// what ran, what passed and what did not run, with why.
func report(t *testing.T, version string, results map[string]string, output map[string]*strings.Builder, took time.Duration) {
	t.Helper()
	var leaves []string
	for name := range results {
		if isGroup(name, results) {
			continue
		}
		leaves = append(leaves, name)
	}
	sort.Strings(leaves)
	count := map[string]int{}
	for _, name := range leaves {
		count[results[name]]++
		switch results[name] {
		case "fail":
			t.Errorf("client test %s failed against the emulator:\n%s", name, output[name])
		case "skip":
			t.Errorf("client test %s skipped itself against the emulator (list it in clientsuite_list_test.go, or fix the emulator):\n%s", name, output[name])
		}
	}
	if len(leaves) == 0 {
		t.Fatal("the client's suite ran no test")
	}

	var b strings.Builder
	fmt.Fprintf(&b, "EventStore-Client-Go %s esdb suite against the emulator (%s): %d run, %d passed, %d failed, %d skipped themselves\n",
		version, took.Round(100*time.Millisecond), len(leaves), count["pass"], count["fail"], count["skip"])
	for _, name := range leaves {
		fmt.Fprintf(&b, "  %-4s %s\n", results[name], name)
	}
	fmt.Fprintf(&b, "not run (%d entries):\n", len(notRun)+len(notStarted))
	for _, n := range append(slices.Clone(notRun), notStarted...) {
		line := "  " + n.test + ": " + n.reason
		if n.rewrite != "" {
			line += "; idem's own test: esdbtest " + n.rewrite
		}
		b.WriteString(line + "\n")
	}
	t.Log(b.String())
}
