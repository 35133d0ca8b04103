package aggregate

import (
	"errors"
	"fmt"
)

// Decider is an aggregate's behaviour as pure functions over its state S, its
// commands C and its events E. C and E are the domain's own types (usually sealed
// interfaces, one per aggregate), so a command or event of another domain is a
// compile error, not a runtime one.
//
// None of the functions may do I/O, read a clock or make ids: everything they need
// is in the state, the event or the command. Evolve must not modify its input
// state in place (the command handler may share a cached state between
// goroutines); it returns a new value. Evolve always sees events as the codec
// decodes them, right after an append as after a reload, so a cached state and a
// reloaded one are the same.
type Decider[S, C, E any] struct {
	// Category names the kind of aggregate; its streams are Category + "-" + id.
	Category string
	// Initial returns the state of an aggregate that has no events.
	Initial func() S
	// Evolve applies one event to the state and returns the new state.
	Evolve func(state S, event E) S
	// Decide turns a command into events, or into a domain error (a rejection). It
	// may return no events (a no-op) or AlreadyDone(key) when the business fact the
	// command asks for was already handled by another command (G5).
	Decide func(state S, command C) ([]E, error)
	// Keys, optional, lists the uniqueness keys a command claims in reservation
	// streams before its events are written (G5: keys that are not identity, or
	// several per aggregate). Nil or an empty list claims nothing.
	Keys func(command C) []string
}

// ErrInvalidDecider reports a Decider with a missing function or a bad Category.
var ErrInvalidDecider = errors.New("invalid decider")

// Validate checks that d has a valid Category and its three functions.
func (d Decider[S, C, E]) Validate() error {
	if err := ValidateCategory(d.Category); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDecider, err)
	}
	switch {
	case d.Initial == nil:
		return fmt.Errorf("%w %s: Initial is nil", ErrInvalidDecider, d.Category)
	case d.Evolve == nil:
		return fmt.Errorf("%w %s: Evolve is nil", ErrInvalidDecider, d.Category)
	case d.Decide == nil:
		return fmt.Errorf("%w %s: Decide is nil", ErrInvalidDecider, d.Category)
	}
	return nil
}

// ErrAlreadyDone is what Decide returns, directly or through AlreadyDone, when the
// command asks for a business fact the aggregate already holds (one invoice per
// shipment reference, a refund reference used once). The command handler treats it
// as a duplicate by business key: success, no events, Duplicate true (G5).
var ErrAlreadyDone = errors.New("already done")

// DuplicateKeyError names the business key of a command that was already handled.
// It matches ErrAlreadyDone.
type DuplicateKeyError struct {
	// Key is the business key, in the domain's own words ("shipment SH-1").
	Key string
}

// Error says which business key was already handled.
func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("%v: business key %q", ErrAlreadyDone, truncate(e.Key, 64))
}

// Is makes errors.Is(err, ErrAlreadyDone) true.
func (e *DuplicateKeyError) Is(target error) bool { return target == ErrAlreadyDone }

// AlreadyDone returns a *DuplicateKeyError for key, for Decide to return.
func AlreadyDone(key string) error { return &DuplicateKeyError{Key: key} }
