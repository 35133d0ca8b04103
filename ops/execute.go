package ops

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit statuses of Execute.
const (
	// ExitOK: the command did what it was asked.
	ExitOK = 0
	// ExitFailure: the command failed, or a reconciliation found mismatches, or
	// a command asked about was not processed.
	ExitFailure = 1
	// ExitUsage: the command line was wrong (an unknown command or flag, a
	// missing argument, an unknown store scheme).
	ExitUsage = 2
)

// ErrUsage matches the errors of a wrong command line (exit status 2).
var ErrUsage = errors.New("usage")

// usageError is a wrong command line.
type usageError struct{ err error }

func (e *usageError) Error() string        { return e.err.Error() }
func (e *usageError) Unwrap() error        { return e.err }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

// usagef returns a usage error.
func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// errMismatch ends a command whose answer is "no" (a reconciliation with
// mismatches, a command not processed) after it printed its report: exit status
// 1, with no further message.
var errMismatch = errors.New("mismatch")

// Execute runs root with args and returns the exit status (ExitOK, ExitFailure,
// ExitUsage). An error is printed once, to root's standard error, as "<root
// name>: <message>", followed for usage errors by where to find help.
func Execute(ctx context.Context, root *cobra.Command, args []string) int {
	root.SetArgs(args)
	root.SilenceErrors, root.SilenceUsage = true, true
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, errMismatch) {
		return ExitFailure
	}
	stderr := root.ErrOrStderr()
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), err)
	if isUsage(err) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return ExitUsage
	}
	return ExitFailure
}

// isUsage reports whether err is a wrong command line: ours, or cobra's own
// (an unknown command or flag).
func isUsage(err error) bool {
	return errors.Is(err, ErrUsage)
}

// usageArgs makes cobra's argument check a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// flagError makes a flag that does not parse a usage error.
func flagError(_ *cobra.Command, err error) error { return &usageError{err} }

// printf writes to w, ignoring errors: output to a closed pipe is not worth
// failing a command that did its work.
func printf(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
