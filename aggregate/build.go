package aggregate

import (
	"fmt"
	"reflect"
	"slices"
)

// build checks the registrations and makes the codec's tables. Upcasts are wired
// last: their chains end at today's event types, which must all be known by then.
func (c *Codec[C, E]) build(entries []typeEntry) error {
	upcasts, err := checkRegistrations[C, E](entries)
	if err != nil {
		return err
	}
	c.addTodaysTypes(entries)
	if err := c.addOlderNames(entries, upcasts); err != nil {
		return err
	}
	slices.Sort(c.eventTypes)
	slices.Sort(c.commandTypes)
	return nil
}

// checkRegistrations refuses a name registered twice, a Go type registered twice,
// two upcasters reading one type, an event type that is not an E and a command type
// that is not a C, reporting the first in registration order. It returns the
// upcasters by the type they read.
func checkRegistrations[C, E any](entries []typeEntry) (map[reflect.Type]typeEntry, error) {
	eType, cType := reflect.TypeFor[E](), reflect.TypeFor[C]()
	names := map[string]bool{}
	types := map[reflect.Type]string{}
	upcasts := map[reflect.Type]typeEntry{}
	for _, e := range entries {
		if names[e.name] {
			return nil, fmt.Errorf("register %q: %w: the name is registered twice", e.name, ErrDuplicateRegistration)
		}
		names[e.name] = true
		switch e.kind {
		case kindEvent, kindCommand:
			if prev, ok := types[e.goType]; ok {
				return nil, fmt.Errorf("register %s as %q: %w: the type is registered as %q", e.goType, e.name, ErrDuplicateRegistration, prev)
			}
			types[e.goType] = e.name
		case kindUpcast:
			if _, ok := upcasts[e.goType]; ok {
				return nil, fmt.Errorf("upcast %q: %w: two upcasters read %s", e.name, ErrDuplicateRegistration, e.goType)
			}
			upcasts[e.goType] = e
		}
		switch {
		case e.kind == kindEvent && !e.goType.AssignableTo(eType):
			return nil, fmt.Errorf("register event %s as %q: %w: it is not a %s", e.goType, e.name, ErrInvalidRegistration, eType)
		case e.kind == kindCommand && !e.goType.AssignableTo(cType):
			return nil, fmt.Errorf("register command %s as %q: %w: it is not a %s", e.goType, e.name, ErrInvalidRegistration, cType)
		}
	}
	return upcasts, nil
}

// addTodaysTypes fills the names and decoders of today's event and command types.
func (c *Codec[C, E]) addTodaysTypes(entries []typeEntry) {
	for _, e := range entries {
		switch e.kind {
		case kindEvent:
			c.eventNames[e.goType] = e.name
			c.eventTypes = append(c.eventTypes, e.name)
			c.decoders[e.name] = c.decodeAs(e)
		case kindCommand:
			c.commandNames[e.goType] = e.name
			c.commandTypes = append(c.commandTypes, e.name)
			c.commands[e.name] = c.decodeCommandAs(e)
		}
	}
}

// addOlderNames fills the decoders of aliases and upcasts, each through the chain
// that takes its data to an event type of today.
func (c *Codec[C, E]) addOlderNames(entries []typeEntry, upcasts map[reflect.Type]typeEntry) error {
	for _, e := range entries {
		if e.kind != kindUpcast && e.kind != kindAlias {
			continue
		}
		chain, err := c.chain(e, upcasts)
		if err != nil {
			return err
		}
		c.decoders[e.name] = c.decodeUpcast(e, chain)
	}
	return nil
}

// chain returns the upcasters that take data stored under e's name to an event
// type of today: e itself, then the upcaster reading each result, in order.
func (c *Codec[C, E]) chain(e typeEntry, upcasts map[reflect.Type]typeEntry) ([]typeEntry, error) {
	if e.kind == kindAlias {
		if _, ok := c.eventNames[e.goType]; !ok {
			return nil, fmt.Errorf("alias %q: %w: %s is not a registered event type", e.name, ErrInvalidRegistration, e.goType)
		}
		return nil, nil
	}
	chain := []typeEntry{e}
	for t := e.to; ; {
		if _, ok := c.eventNames[t]; ok {
			return chain, nil
		}
		next, ok := upcasts[t]
		if !ok || len(chain) > len(upcasts) {
			return nil, fmt.Errorf("upcast %q: %w: the chain ends at %s, which is neither an event type nor read by an upcaster",
				e.name, ErrInvalidRegistration, t)
		}
		chain = append(chain, next)
		t = next.to
	}
}

// decodeAs returns the decoder of an event type of today.
func (c *Codec[C, E]) decodeAs(e typeEntry) func([]byte) (E, error) {
	return func(data []byte) (E, error) {
		v, err := e.decode(c.ser, data)
		if err != nil {
			var zero E
			return zero, fmt.Errorf("decode %q: %w: %w", truncate(e.name, 64), ErrDecode, err)
		}
		return v.(E), nil
	}
}

// decodeCommandAs returns the decoder of a command type; DecodeCommand says which
// name failed.
func (c *Codec[C, E]) decodeCommandAs(e typeEntry) func([]byte) (C, error) {
	return func(data []byte) (C, error) {
		v, err := e.decode(c.ser, data)
		if err != nil {
			var zero C
			return zero, err
		}
		return v.(C), nil
	}
}

// decodeUpcast returns the decoder of an older name: decode into the type the
// first upcaster reads (or, for an alias, today's type), then apply the chain.
func (c *Codec[C, E]) decodeUpcast(e typeEntry, chain []typeEntry) func([]byte) (E, error) {
	return func(data []byte) (E, error) {
		var zero E
		v, err := e.decode(c.ser, data)
		if err != nil {
			return zero, fmt.Errorf("decode %q: %w: %w", truncate(e.name, 64), ErrDecode, err)
		}
		for _, step := range chain {
			if v, err = step.upcast(v); err != nil {
				return zero, fmt.Errorf("decode %q: %w", truncate(e.name, 64), err)
			}
		}
		return v.(E), nil
	}
}
