package aggregate

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MaxTypeNameLength is the longest registered type name, in bytes.
const MaxTypeNameLength = 256

// ReservedTypePrefix starts the names of idem's own marker events ("$idem.rejected");
// Register refuses names that start with it.
const ReservedTypePrefix = "$idem."

var (
	// ErrUnknownEventType: Decode was given a type name no Register call made.
	ErrUnknownEventType = errors.New("unknown event type")
	// ErrUnregisteredType: Encode or Name was given a value whose Go type was not
	// registered (or nil).
	ErrUnregisteredType = errors.New("unregistered type")
	// ErrInvalidTypeName: Register was given an empty, oversize or reserved name.
	ErrInvalidTypeName = errors.New("invalid type name")
	// ErrDuplicateRegistration: the name or the Go type is already registered with
	// a different partner in this Codec.
	ErrDuplicateRegistration = errors.New("duplicate registration")
	// ErrDecode: stored data could not be decoded into its registered type.
	ErrDecode = errors.New("decode event data")
	// ErrEncode: a value could not be encoded by the serializer.
	ErrEncode = errors.New("encode event data")
)

// UnknownTypeError reports a type name that is not registered. It matches
// ErrUnknownEventType.
type UnknownTypeError struct{ Name string }

func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("decode %q: %v", truncate(e.Name, 64), ErrUnknownEventType)
}

// Is makes errors.Is(err, ErrUnknownEventType) true.
func (e *UnknownTypeError) Is(target error) bool { return target == ErrUnknownEventType }

// UnregisteredTypeError reports a Go type that is not registered. It matches
// ErrUnregisteredType.
type UnregisteredTypeError struct{ GoType string }

func (e *UnregisteredTypeError) Error() string {
	return fmt.Sprintf("encode %s: %v", e.GoType, ErrUnregisteredType)
}

// Is makes errors.Is(err, ErrUnregisteredType) true.
func (e *UnregisteredTypeError) Is(target error) bool { return target == ErrUnregisteredType }

// Serializer turns values into bytes and back. The default is JSON.
type Serializer interface {
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, a non-nil pointer.
	Unmarshal(data []byte, v any) error
}

// JSON is the default Serializer, encoding/json.
type JSON struct{}

// Marshal is json.Marshal.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal is json.Unmarshal.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// CodecOption configures NewCodec.
type CodecOption func(*Codec)

// WithSerializer makes the Codec encode with s instead of JSON.
func WithSerializer(s Serializer) CodecOption {
	return func(c *Codec) {
		if s != nil {
			c.ser = s
		}
	}
}

// Codec maps registered Go types to stable names and encodes values of them. It is
// safe for concurrent use; register every type before the codec is in use.
type Codec struct {
	ser    Serializer
	mu     sync.RWMutex
	byName map[string]registration
	byType map[reflect.Type]string
}

type registration struct {
	goType reflect.Type
	decode func(ser Serializer, data []byte) (any, error)
}

// NewCodec returns an empty Codec that encodes with JSON unless an option says
// otherwise.
func NewCodec(opts ...CodecOption) *Codec {
	c := &Codec{ser: JSON{}, byName: map[string]registration{}, byType: map[reflect.Type]string{}}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// Register records that values of Go type T are stored under name (an event type,
// or a command type for fingerprints). Registering the same pair twice is allowed;
// a name or type already paired with another fails with ErrDuplicateRegistration.
// Decode returns values of type T (not pointers, unless T is a pointer type).
func Register[T any](c *Codec, name string) error {
	t := reflect.TypeFor[T]()
	if err := validateTypeName(name); err != nil {
		return err
	}
	if t.Kind() == reflect.Interface {
		return fmt.Errorf("register %q: %w: %s is an interface type", name, ErrUnregisteredType, t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.byName[name]; ok {
		if prev.goType == t {
			return nil
		}
		return fmt.Errorf("register %s as %q: %w: the name is taken by %s", t, name, ErrDuplicateRegistration, prev.goType)
	}
	if prev, ok := c.byType[t]; ok {
		return fmt.Errorf("register %s as %q: %w: the type is registered as %q", t, name, ErrDuplicateRegistration, prev)
	}
	c.byName[name] = registration{goType: t, decode: func(ser Serializer, data []byte) (any, error) {
		var v T
		if err := ser.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		return v, nil
	}}
	c.byType[t] = name
	return nil
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

// Name returns the registered name of v's Go type. A pointer to a registered
// non-pointer type has the name of the type it points to.
func (c *Codec) Name(v any) (string, error) {
	if v == nil {
		return "", &UnregisteredTypeError{GoType: "nil"}
	}
	t := reflect.TypeOf(v)
	c.mu.RLock()
	name, ok := c.byType[t]
	if !ok && t.Kind() == reflect.Pointer {
		name, ok = c.byType[t.Elem()]
	}
	c.mu.RUnlock()
	if !ok {
		return "", &UnregisteredTypeError{GoType: t.String()}
	}
	return name, nil
}

// Encode returns v's registered name and its encoded bytes. It fails with
// ErrUnregisteredType for a type that was not registered, before any encoding.
func (c *Codec) Encode(v any) (name string, data []byte, err error) {
	name, err = c.Name(v)
	if err != nil {
		return "", nil, err
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "", nil, fmt.Errorf("encode %q: %w: nil pointer", name, ErrEncode)
	}
	data, err = c.ser.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("encode %q: %w: %w", name, ErrEncode, err)
	}
	return name, data, nil
}

// Decode decodes data stored under the type name into a value of the registered Go
// type. An unknown name fails with *UnknownTypeError (ErrUnknownEventType); data
// that does not decode fails with ErrDecode.
func (c *Codec) Decode(name string, data []byte) (any, error) {
	c.mu.RLock()
	reg, ok := c.byName[name]
	c.mu.RUnlock()
	if !ok {
		return nil, &UnknownTypeError{Name: name}
	}
	v, err := reg.decode(c.ser, data)
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w: %w", truncate(name, 64), ErrDecode, err)
	}
	return v, nil
}

// Registered reports whether name is registered.
func (c *Codec) Registered(name string) bool {
	c.mu.RLock()
	_, ok := c.byName[name]
	c.mu.RUnlock()
	return ok
}

// Types returns the registered names, sorted.
func (c *Codec) Types() []string {
	c.mu.RLock()
	names := make([]string, 0, len(c.byName))
	for n := range c.byName {
		names = append(names, n)
	}
	c.mu.RUnlock()
	slices.Sort(names)
	return names
}

// Serializer returns the codec's serializer (the command handler also encodes
// snapshot states with it).
func (c *Codec) Serializer() Serializer { return c.ser }
