package idem

import (
	"errors"
	"fmt"
)

// ErrPanicked matches every *PanicError.
var ErrPanicked = errors.New("callback panicked")

// PanicError reports a panic in code that idem called on the application's behalf:
// a decider's Initial, Evolve, Decide or Keys, a codec upcaster, a projection's
// Setup or Handle, a reactor. idem recovers it so that it fails the one call that
// ran it (nothing is written) instead of the process, and keeps the stack.
type PanicError struct {
	// Callback names the code that panicked: "Decide", "Evolve", "projection
	// invoices Handle"...
	Callback string
	// Value is what was passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic (runtime/debug.Stack).
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("%s panicked: %v", e.Callback, e.Value)
}

// Is makes errors.Is(err, ErrPanicked) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanicked }

// Unwrap returns Value when it is an error (a panic(err)), so errors.Is and
// errors.As reach it.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
