package aggregate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// Serializer turns values into bytes and back. The default is JSON.
type Serializer interface {
	// Marshal encodes v.
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

// Codec maps the Go types of a domain's events (E) and commands (C) to the names
// they are stored under, and encodes and decodes them. Every name is given
// explicitly (Event, Command): there is no global registry and no name derived by
// reflection, so renaming a Go type never renames stored events. Events stored
// under an older name or shape decode into today's types through upcasters
// (Upcast, Alias). A Codec is built once by NewCodec and never changes: it is safe
// for concurrent use.
type Codec[C, E any] struct {
	ser Serializer
	// eventNames and commandNames map today's Go types to their names.
	eventNames   map[reflect.Type]string
	commandNames map[reflect.Type]string
	// decoders decode the data stored under a name (today's, an alias or an
	// upcast's) into an event of today's types.
	decoders map[string]func(data []byte) (E, error)
	// commands decode command data stored under a name.
	commands map[string]func(data []byte) (C, error)
	// eventTypes and commandTypes are today's names, sorted.
	eventTypes, commandTypes []string
}

// NewCodec builds the codec of a domain from its type registrations (Event,
// Command, Upcast, Alias) and options (WithSerializer). It fails, with errors
// matching ErrInvalidTypeName, ErrDuplicateRegistration or ErrInvalidRegistration,
// on a bad or repeated name, a Go type registered twice, an event type that is not
// an E, a command type that is not a C, or an upcast chain that does not end at an
// event type of today.
func NewCodec[C, E any](opts ...CodecOption) (*Codec[C, E], error) {
	spec := codecSpec{ser: JSON{}}
	for _, o := range opts {
		if o != nil {
			o(&spec)
		}
	}
	if len(spec.errs) > 0 {
		return nil, spec.errs[0]
	}
	c := &Codec[C, E]{ser: spec.ser, eventNames: map[reflect.Type]string{}, commandNames: map[reflect.Type]string{},
		decoders: map[string]func([]byte) (E, error){}, commands: map[string]func([]byte) (C, error){}}
	if err := c.build(spec.entries); err != nil {
		return nil, err
	}
	return c, nil
}

// EncodeEvent returns the name of e's type and e encoded. A pointer to an event
// type is encoded as the value it points to. An unregistered type (or nil) fails
// with *UnregisteredTypeError before any encoding.
func (c *Codec[C, E]) EncodeEvent(e E) (name string, data []byte, err error) {
	return encode(c.ser, c.eventNames, e)
}

// DecodeEvent decodes data stored under the type name into an event of today's
// types, through upcasters when name is an older one. An unknown name fails with
// *UnknownTypeError (ErrUnknownEventType); data that does not decode fails with
// ErrDecode; a panicking upcaster with *idem.PanicError.
func (c *Codec[C, E]) DecodeEvent(name string, data []byte) (E, error) {
	dec, ok := c.decoders[name]
	if !ok {
		var zero E
		return zero, &UnknownTypeError{Name: name}
	}
	return dec(data)
}

// EventName returns the name e's type is stored under.
func (c *Codec[C, E]) EventName(e E) (string, error) { return typeName(c.eventNames, e) }

// EncodeCommand returns the name of cmd's type and cmd encoded (for fingerprints
// and for carrying commands over a broker).
func (c *Codec[C, E]) EncodeCommand(cmd C) (name string, data []byte, err error) {
	return encode(c.ser, c.commandNames, cmd)
}

// DecodeCommand decodes a command stored under the type name.
func (c *Codec[C, E]) DecodeCommand(name string, data []byte) (C, error) {
	dec, ok := c.commands[name]
	if !ok {
		var zero C
		return zero, &UnknownTypeError{Name: name}
	}
	cmd, err := dec(data)
	if err != nil {
		return cmd, fmt.Errorf("decode %q: %w: %w", truncate(name, 64), ErrDecode, err)
	}
	return cmd, nil
}

// CommandName returns the name cmd's type is registered under.
func (c *Codec[C, E]) CommandName(cmd C) (string, error) { return typeName(c.commandNames, cmd) }

// EventTypes returns the names of today's event types, sorted: what a projection of
// this domain filters on.
func (c *Codec[C, E]) EventTypes() []string { return slices.Clone(c.eventTypes) }

// CommandTypes returns the names of the command types, sorted.
func (c *Codec[C, E]) CommandTypes() []string { return slices.Clone(c.commandTypes) }

// Serializer returns the codec's serializer (the command handler also encodes
// snapshot states with it).
func (c *Codec[C, E]) Serializer() Serializer { return c.ser }

// typeName returns the registered name of v's type, or of the type v points to.
func typeName(names map[reflect.Type]string, v any) (string, error) {
	if v == nil {
		return "", &UnregisteredTypeError{GoType: "nil"}
	}
	t := reflect.TypeOf(v)
	name, ok := names[t]
	if !ok && t.Kind() == reflect.Pointer {
		name, ok = names[t.Elem()]
	}
	if !ok {
		return "", &UnregisteredTypeError{GoType: t.String()}
	}
	return name, nil
}

// encode encodes v, a value of a registered type or a pointer to one.
func encode(ser Serializer, names map[reflect.Type]string, v any) (string, []byte, error) {
	name, err := typeName(names, v)
	if err != nil {
		return "", nil, err
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "", nil, fmt.Errorf("encode %q: %w: nil pointer", name, ErrEncode)
		}
		if _, registered := names[rv.Type()]; !registered {
			v = rv.Elem().Interface() // encoded as the registered value type
		}
	}
	data, err := ser.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("encode %q: %w: %w", name, ErrEncode, err)
	}
	return name, data, nil
}
