package aggregate

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/idemkit/idem/internal/callback"
)

// MaxTypeNameLength is the longest registered type name, in bytes.
const MaxTypeNameLength = 256

// ReservedTypePrefix starts the names of idem's own event types ("$idem.rejected");
// registrations refuse names that start with it.
const ReservedTypePrefix = "$idem."

// CodecOption configures NewCodec: a type registration (Event, Command, Upcast,
// Alias) or a setting (WithSerializer).
type CodecOption func(*codecSpec)

type codecSpec struct {
	ser     Serializer
	entries []typeEntry
	errs    []error
}

type typeKind uint8

const (
	kindEvent typeKind = iota + 1
	kindCommand
	kindUpcast
	kindAlias
)

// typeEntry is one registration.
type typeEntry struct {
	kind typeKind
	name string
	// goType is the type data stored under name decodes into.
	goType reflect.Type
	decode func(ser Serializer, data []byte) (any, error)
	// to and upcast are an upcaster's result type and function.
	to     reflect.Type
	upcast func(v any) (any, error)
}

// Event registers T as an event type stored under name. Values decode as T (not
// pointers, unless T is a pointer type); a pointer to T encodes as T.
func Event[T any](name string) CodecOption { return register[T](kindEvent, name) }

// Command registers T as a command type under name: the name goes into every
// command's fingerprint and into its events' metadata, and names the command on a
// broker.
func Command[T any](name string) CodecOption { return register[T](kindCommand, name) }

// Alias registers an older name of the event type T: events stored under it decode
// as T. It is how an event type is renamed without touching stored events (T must
// also be registered with Event).
func Alias[T any](oldName string) CodecOption { return register[T](kindAlias, oldName) }

// Upcast registers an older shape of an event: data stored under oldName decodes
// as From, and up turns it into a To. To is an event type of today (registered with
// Event), or the From of another upcaster: upcasters chain, so each old shape needs
// only the step to the next one. up must be pure (no I/O, no clock): it runs on
// every load of an old event. A panic in it fails the load with *idem.PanicError.
func Upcast[From, To any](oldName string, up func(From) To) CodecOption {
	opt := register[From](kindUpcast, oldName)
	return func(s *codecSpec) {
		n := len(s.entries)
		opt(s)
		if len(s.entries) == n || up == nil {
			if up == nil {
				s.errs = append(s.errs, fmt.Errorf("upcast %q: %w: nil function", oldName, ErrInvalidRegistration))
			}
			return
		}
		e := &s.entries[n]
		e.to = reflect.TypeFor[To]()
		name := "upcast " + truncate(oldName, 64)
		e.upcast = func(v any) (out any, err error) {
			defer callback.Recover(name, &err)
			return up(v.(From)), nil
		}
	}
}

// WithSerializer makes the codec encode with s instead of JSON.
func WithSerializer(s Serializer) CodecOption {
	return func(spec *codecSpec) {
		if s == nil {
			spec.errs = append(spec.errs, fmt.Errorf("%w: nil serializer", ErrInvalidRegistration))
			return
		}
		spec.ser = s
	}
}

func register[T any](kind typeKind, name string) CodecOption {
	t := reflect.TypeFor[T]()
	return func(s *codecSpec) {
		if err := validateTypeName(name); err != nil {
			s.errs = append(s.errs, err)
			return
		}
		if t.Kind() == reflect.Interface {
			s.errs = append(s.errs, fmt.Errorf("register %q: %w: %s is an interface type", name, ErrInvalidRegistration, t))
			return
		}
		s.entries = append(s.entries, typeEntry{kind: kind, name: name, goType: t,
			decode: func(ser Serializer, data []byte) (any, error) {
				var v T
				if err := ser.Unmarshal(data, &v); err != nil {
					return nil, err
				}
				return v, nil
			}})
	}
}

func validateTypeName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "empty"
	case len(name) > MaxTypeNameLength:
		reason = fmt.Sprintf("longer than %d bytes", MaxTypeNameLength)
	case !utf8.ValidString(name):
		reason = "not valid UTF-8"
	case strings.HasPrefix(name, ReservedTypePrefix):
		reason = "names starting with " + ReservedTypePrefix + " are reserved for idem"
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
	return fmt.Errorf("register %q: %w: %s", truncate(name, 64), ErrInvalidTypeName, reason)
}
