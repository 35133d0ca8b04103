package faults

import (
	"errors"
	"fmt"

	"github.com/idemkit/idem/eventstore"
)

// ErrInjected is matched (errors.Is) by every error a fault injects, so a test can
// tell an injected failure from a real one.
var ErrInjected = errors.New("injected fault")

// InjectedError is the error of an injected fault. It matches ErrInjected and
// eventstore.ErrUnavailable with errors.Is: to the code under test it is a backend
// failure whose outcome is unknown.
type InjectedError struct {
	// Kind is the fault injected.
	Kind Kind
	// Op is the store method that failed.
	Op Op
	// Call is the rule's call number that fired (1-based).
	Call uint64
	// Written is true when the append was written before the error (LostAck).
	Written bool
}

func (e *InjectedError) Error() string {
	s := fmt.Sprintf("%v %s on %s call %d", ErrInjected, e.Kind, e.Op, e.Call)
	if e.Written {
		s += " (the append was written)"
	}
	return s + ": " + eventstore.ErrUnavailable.Error()
}

// Is makes errors.Is match ErrInjected and eventstore.ErrUnavailable.
func (e *InjectedError) Is(target error) bool {
	return target == ErrInjected || target == eventstore.ErrUnavailable
}
