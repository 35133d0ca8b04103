// Package callback runs application code on idem's behalf and turns a panic in it
// into an *idem.PanicError that keeps the stack.
package callback

import (
	"runtime/debug"

	"github.com/idemkit/idem"
)

// Recover, deferred, turns a panic into an *idem.PanicError stored in *err.
//
//	defer callback.Recover("Decide", &err)
func Recover(name string, err *error) {
	if v := recover(); v != nil {
		*err = &idem.PanicError{Callback: name, Value: v, Stack: debug.Stack()}
	}
}

// Call runs f, turning a panic into an *idem.PanicError.
func Call(name string, f func() error) (err error) {
	defer Recover(name, &err)
	return f()
}
