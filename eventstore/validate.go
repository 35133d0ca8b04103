package eventstore

import (
	"unicode"
	"unicode/utf8"
)

// DefaultMaxAppendSize is the default limit on the bytes of one append (the sum of
// every event's type, data and metadata): 1 MiB, EventStoreDB's limit before 25.1, so
// that streams written to one backend can move to the other.
const DefaultMaxAppendSize = 1 << 20

// MaxStreamNameLength is the longest stream name, in bytes.
const MaxStreamNameLength = 512

// ValidateStreamName checks a stream name: not empty, at most MaxStreamNameLength
// bytes, valid UTF-8, no control characters or white space, and not starting with
// "$", which EventStoreDB reserves for system streams. It returns an
// *InvalidStreamNameError.
func ValidateStreamName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "empty"
	case len(name) > MaxStreamNameLength:
		reason = "longer than 512 bytes"
	case !utf8.ValidString(name):
		reason = "not valid UTF-8"
	case name[0] == '$':
		reason = "names starting with $ are reserved for system streams"
	default:
		for _, r := range name {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				reason = "contains white space or a control character"
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return &InvalidStreamNameError{Name: name, Reason: reason}
}
