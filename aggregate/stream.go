package aggregate

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
)

// MaxAggregateIDLength is the longest aggregate id, in bytes.
const MaxAggregateIDLength = 256

// MaxCategoryLength is the longest category, in bytes.
const MaxCategoryLength = 128

var (
	// ErrInvalidCategory reports a category that breaks ValidateCategory's rules.
	ErrInvalidCategory = errors.New("invalid aggregate category")
	// ErrInvalidAggregateID reports an aggregate id that breaks ValidateID's rules.
	ErrInvalidAggregateID = errors.New("invalid aggregate id")
)

// keyedNamespace is the UUID namespace of keyed identities (KeyedID). It is fixed
// forever, and unexported so that nothing can change it: another namespace would
// move every keyed aggregate to a new stream.
var keyedNamespace = uuid.MustParse("6f1c2d1e-8d4a-5b7e-9c3f-1d2e3f4a5b6c")

// ValidateCategory checks a category: 1 to MaxCategoryLength bytes of ASCII letters,
// digits, '_' and '.', starting with a letter. A category never holds '-', so a
// stream name splits back into category and id at its first '-'.
func ValidateCategory(category string) error {
	reason := ""
	switch {
	case category == "":
		reason = "empty"
	case len(category) > MaxCategoryLength:
		reason = fmt.Sprintf("longer than %d bytes", MaxCategoryLength)
	case !isASCIILetter(category[0]):
		reason = "must start with an ASCII letter"
	default:
		for i := 0; i < len(category); i++ {
			c := category[i]
			if !isASCIILetter(c) && !(c >= '0' && c <= '9') && c != '_' && c != '.' {
				reason = fmt.Sprintf("character %q not allowed (letters, digits, '_' and '.')", c)
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidCategory, category, reason)
}

// ValidateID checks an aggregate id: 1 to MaxAggregateIDLength bytes of valid UTF-8 without
// white space or control characters.
func ValidateID(id string) error {
	reason := ""
	switch {
	case id == "":
		reason = "empty"
	case len(id) > MaxAggregateIDLength:
		reason = fmt.Sprintf("longer than %d bytes", MaxAggregateIDLength)
	case !utf8.ValidString(id):
		reason = "not valid UTF-8"
	default:
		for _, r := range id {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				reason = "contains white space or a control character"
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidAggregateID, truncate(id, 64), reason)
}

// StreamName returns the stream of aggregate id in category: category + "-" + id,
// after checking both parts and the result (eventstore.ValidateStreamName).
func StreamName(category, id string) (string, error) {
	if err := ValidateCategory(category); err != nil {
		return "", err
	}
	if err := ValidateID(id); err != nil {
		return "", err
	}
	name := category + "-" + id
	if err := eventstore.ValidateStreamName(name); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidAggregateID, err)
	}
	return name, nil
}

// ParseStreamName splits a stream name made by StreamName into category and id.
func ParseStreamName(stream string) (category, id string, err error) {
	category, id, ok := strings.Cut(stream, "-")
	if !ok {
		return "", "", fmt.Errorf("parse stream name %q: %w: no '-'", truncate(stream, 64), ErrInvalidCategory)
	}
	if err := ValidateCategory(category); err != nil {
		return "", "", fmt.Errorf("parse stream name: %w", err)
	}
	if err := ValidateID(id); err != nil {
		return "", "", fmt.Errorf("parse stream name: %w", err)
	}
	return category, id, nil
}

// KeyedID returns the aggregate id derived from a business key: a UUIDv5, in a
// namespace fixed forever, over category and key. Every command for one key gets the same id, so
// they meet in one stream; the first creation appends with NoStream and a second
// one is detected atomically (G5). The same key in two categories gives two ids.
func KeyedID(category, key string) string {
	return uuid.NewSHA1(keyedNamespace, []byte(category+"\x00"+key)).String()
}

func isASCIILetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
