package idem_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The docs are checked like code: a Go snippet a reader copies must have been
// compiled, and a test the docs name as proof must exist.

// docFiles are the Markdown files whose snippets and test names are checked.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	more, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, more...)
}

// goSources returns the text of every .go file of the repository (the bench
// harness, a module of its own, included), or of its _test.go files only.
func goSources(t *testing.T, testsOnly bool) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && (!testsOnly || strings.HasSuffix(path, "_test.go")) {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b.Write(data)
			b.WriteByte('\n')
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var (
	goBlock  = regexp.MustCompile("(?s)```go\n(.*?)```")
	testName = regexp.MustCompile("`((?:Test|Example|Fuzz|Benchmark)[A-Za-z0-9_]*)`")
	space    = regexp.MustCompile(`\s+`)
)

func normalize(s string) string { return strings.TrimSpace(space.ReplaceAllString(s, " ")) }

// TestDocSnippetsAreCompiled: every ```go block of README.md and docs/ appears,
// white space aside, in a Go file of the repository (most in Example functions or
// the examples), so no snippet a reader copies has escaped the compiler. A block
// that is not meant to compile is marked ```text.
func TestDocSnippetsAreCompiled(t *testing.T) {
	code := normalize(goSources(t, false))
	for _, file := range docFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goBlock.FindAllStringSubmatch(string(data), -1) {
			snippet := normalize(m[1])
			if !strings.Contains(code, snippet) {
				first, _, _ := strings.Cut(strings.TrimSpace(m[1]), "\n")
				t.Errorf("%s: a Go snippet is in no Go file, so no compiler has seen it: %q", file, first)
			}
		}
	}
}

// TestDocsNameTestsThatExist: every test, example, fuzz target or benchmark the
// docs name (in backquotes) as a proof exists.
func TestDocsNameTestsThatExist(t *testing.T) {
	code := goSources(t, true)
	for _, file := range docFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range testName.FindAllStringSubmatch(string(data), -1) {
			if !regexp.MustCompile(`func (\([^)]*\) )?` + m[1] + `\b`).MatchString(code) {
				t.Errorf("%s names %s, which no test file defines", file, m[1])
			}
		}
	}
}
