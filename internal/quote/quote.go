// Package quote shortens caller input before it is echoed in an error message, so
// that a hostile or damaged value (a 1 MB stream name) cannot blow up a message or a
// log line.
package quote

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Max is the most bytes of caller input a message quotes.
const Max = 200

// Trunc returns s cut to at most Max bytes, on a rune boundary, with "..." and the
// full length appended when it was cut.
func Trunc(s string) string {
	if len(s) <= Max {
		return s
	}
	cut := Max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}

// Q is s quoted as Go quotes strings, in at most about Max bytes: escapes count
// against the budget, so a name of control characters stays as short as any.
func Q(s string) string {
	q := strconv.Quote(Trunc(s))
	if len(q) <= Max+32 {
		return q
	}
	cut := Max
	for cut > 0 && !utf8.RuneStart(q[cut]) {
		cut--
	}
	// Do not end inside an escape sequence: back up to before the last backslash
	// run if one starts within the last few bytes.
	if i := strings.LastIndexByte(q[max(cut-10, 0):cut], '\\'); i >= 0 {
		cut = max(cut-10, 0) + i
	}
	return q[:cut] + `..."(` + strconv.Itoa(len(s)) + " bytes)"
}
