package projection_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var goSnippet = regexp.MustCompile("(?s)```go\n(.*?)```")

// TestDocSnippetsAreCompiled checks that every Go snippet of docs/projections.md
// is, line for line (indentation aside), part of a compiled file of projection,
// projection/sqlitetarget or projection/pgtarget: an Example function, or the
// source itself. A snippet no compiler has seen fails it.
func TestDocSnippetsAreCompiled(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "projections.md"))
	if err != nil {
		t.Fatal(err)
	}
	var sources [][]string
	for _, pattern := range []string{"*.go", "sqlitetarget/*.go", "pgtarget/*.go"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sources = append(sources, normalize(string(b)))
		}
	}
	snippets := goSnippet.FindAllStringSubmatch(string(doc), -1)
	if len(snippets) < 8 {
		t.Fatalf("found %d Go snippets in docs/projections.md", len(snippets))
	}
	for _, m := range snippets {
		want := normalize(m[1])
		if !slices.ContainsFunc(sources, func(src []string) bool { return containsRun(src, want) }) {
			t.Errorf("this snippet of docs/projections.md is in no compiled file:\n%s", m[1])
		}
	}
}

// normalize splits text into lines without their surrounding whitespace.
func normalize(text string) []string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}

// containsRun reports whether want appears in src as consecutive lines.
func containsRun(src, want []string) bool {
	for i := 0; i+len(want) <= len(src); i++ {
		if slices.Equal(src[i:i+len(want)], want) {
			return true
		}
	}
	return false
}
