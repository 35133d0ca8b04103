package aggregate

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownEventType: a decode was given a type name the codec does not know
	// (neither today's nor an older one).
	ErrUnknownEventType = errors.New("unknown event type")
	// ErrUnregisteredType: an encode was given a value whose Go type was not
	// registered (or nil).
	ErrUnregisteredType = errors.New("unregistered type")
	// ErrInvalidTypeName: a registration's name is empty, oversize, not text or
	// reserved.
	ErrInvalidTypeName = errors.New("invalid type name")
	// ErrDuplicateRegistration: a name, or a Go type, is registered twice.
	ErrDuplicateRegistration = errors.New("duplicate registration")
	// ErrInvalidRegistration: a registration that cannot work: an interface type,
	// an event type that is not the domain's event type (or a command type not its
	// command type), an upcast chain that does not end at an event type of today.
	ErrInvalidRegistration = errors.New("invalid type registration")
	// ErrDecode: stored data could not be decoded into its registered type.
	ErrDecode = errors.New("decode event data")
	// ErrEncode: a value could not be encoded by the serializer.
	ErrEncode = errors.New("encode event data")
)

// UnknownTypeError reports a type name that is not registered. It matches
// ErrUnknownEventType.
type UnknownTypeError struct{ Name string }

// Error names the unknown type.
func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("decode %q: %v", truncate(e.Name, 64), ErrUnknownEventType)
}

// Is makes errors.Is(err, ErrUnknownEventType) true.
func (e *UnknownTypeError) Is(target error) bool { return target == ErrUnknownEventType }

// UnregisteredTypeError reports a Go type that is not registered. It matches
// ErrUnregisteredType.
type UnregisteredTypeError struct{ GoType string }

// Error names the unregistered Go type.
func (e *UnregisteredTypeError) Error() string {
	return fmt.Sprintf("encode %s: %v", e.GoType, ErrUnregisteredType)
}

// Is makes errors.Is(err, ErrUnregisteredType) true.
func (e *UnregisteredTypeError) Is(target error) bool { return target == ErrUnregisteredType }
