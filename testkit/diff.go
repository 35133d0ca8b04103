package testkit

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/davecgh/go-spew/spew"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/stretchr/testify/assert"
)

// spewConfig is testify's: the diffs read like testify's assert.Equal diffs.
var spewConfig = spew.ConfigState{
	Indent:                  " ",
	DisablePointerAddresses: true,
	DisableCapacities:       true,
	SortKeys:                true,
	DisableMethods:          true,
	MaxDepth:                10,
}

// equal reports whether two values are equal as testify's assert.Equal decides.
func equal(expected, actual any) bool { return assert.ObjectsAreEqual(expected, actual) }

// diff returns a unified diff of the spew dumps of expected and actual, indented.
func diff(expected, actual any) string {
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(spewConfig.Sdump(expected)),
		B:        difflib.SplitLines(spewConfig.Sdump(actual)),
		FromFile: "Expected",
		ToFile:   "Actual",
		Context:  1,
	})
	return indent(strings.TrimRight(d, "\n"), "    ")
}

// listEvents renders events one a line, numbered, for side-by-side reading.
func listEvents(events []any) string {
	if len(events) == 0 {
		return "    (none)"
	}
	var b strings.Builder
	for i, e := range events {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "    [%d] %s", i, show(e))
	}
	return b.String()
}

// show renders one value with its type: payments.Captured{Reference:"cap-1", Amount:100}.
func show(v any) string {
	if v == nil {
		return "nil"
	}
	s := fmt.Sprintf("%#v", v)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// deref returns the value v points to when v is a non-nil pointer, else v.
func deref(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return rv.Elem().Interface()
	}
	return v
}
