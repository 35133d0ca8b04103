package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"syscall"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/idemkit/idem/eventstore"
)

// TestErrorClasses: every SQLite failure maps to the class that tells the caller
// the truth about retrying. Before, everything but a damaged file was
// ErrUnavailable ("retrying is safe and may help"), permission and path problems
// and foreign schemas included.
func TestErrorClasses(t *testing.T) {
	for _, c := range []struct {
		name string
		err  sqlite3.Error
		want error // nil: no class
	}{
		{"busy", sqlite3.Error{Code: sqlite3.ErrBusy}, eventstore.ErrUnavailable},
		{"locked", sqlite3.Error{Code: sqlite3.ErrLocked}, eventstore.ErrUnavailable},
		{"disk full", sqlite3.Error{Code: sqlite3.ErrFull}, eventstore.ErrUnavailable},
		{"I/O error", sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrWrite, SystemErrno: syscall.EIO}, eventstore.ErrUnavailable},
		{"I/O error on a read-only file system", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EROFS}, ErrReadOnly},
		{"out of memory", sqlite3.Error{Code: sqlite3.ErrNomem}, eventstore.ErrUnavailable},
		{"schema changed", sqlite3.Error{Code: sqlite3.ErrSchema}, eventstore.ErrUnavailable},
		{"damaged file", sqlite3.Error{Code: sqlite3.ErrCorrupt}, eventstore.ErrCorrupt},
		{"not a database", sqlite3.Error{Code: sqlite3.ErrNotADB}, eventstore.ErrIncompatible},
		{"no such table", sqlite3.Error{Code: sqlite3.ErrError}, eventstore.ErrIncompatible},
		{"constraint", sqlite3.Error{Code: sqlite3.ErrConstraint}, eventstore.ErrIncompatible},
		{"datatype mismatch", sqlite3.Error{Code: sqlite3.ErrMismatch}, eventstore.ErrIncompatible},
		{"read-only database", sqlite3.Error{Code: sqlite3.ErrReadonly}, ErrReadOnly},
		{"read-only directory", sqlite3.Error{Code: sqlite3.ErrReadonly, ExtendedCode: sqlite3.ErrReadonly.Extend(6)}, ErrReadOnly},
		{"permission", sqlite3.Error{Code: sqlite3.ErrPerm}, fs.ErrPermission},
		{"cannot open: missing", sqlite3.Error{Code: sqlite3.ErrCantOpen, SystemErrno: syscall.ENOENT}, fs.ErrNotExist},
		{"cannot open: permission", sqlite3.Error{Code: sqlite3.ErrCantOpen, SystemErrno: syscall.EACCES}, fs.ErrPermission},
		{"cannot open: read-only file system", sqlite3.Error{Code: sqlite3.ErrCantOpen, SystemErrno: syscall.EROFS}, ErrReadOnly},
		{"cannot open: a directory", sqlite3.Error{Code: sqlite3.ErrCantOpen, SystemErrno: syscall.EISDIR}, fs.ErrInvalid},
		{"cannot open: too many open files", sqlite3.Error{Code: sqlite3.ErrCantOpen, SystemErrno: syscall.EMFILE}, eventstore.ErrUnavailable},
		{"cannot open: no reason", sqlite3.Error{Code: sqlite3.ErrCantOpen}, nil},
		{"too big", sqlite3.Error{Code: sqlite3.ErrTooBig}, nil},
		{"misuse", sqlite3.Error{Code: sqlite3.ErrMisuse}, nil},
	} {
		err := storageError(context.Background(), "test", c.err)
		var se *StorageError
		if !errors.As(err, &se) || se.Kind != c.want {
			t.Errorf("%s: got %v, want a StorageError of kind %v", c.name, err, c.want)
		}
		for _, other := range []error{eventstore.ErrUnavailable, eventstore.ErrCorrupt, eventstore.ErrIncompatible, ErrReadOnly, fs.ErrPermission, fs.ErrNotExist, fs.ErrInvalid} {
			if other != c.want && errors.Is(err, other) {
				t.Errorf("%s: %v also matches %v", c.name, err, other)
			}
		}
	}
}

// TestStorageErrorKeepsTypedErrors: context errors, errors of the store's own
// types and an interruption by an ended context pass through unchanged.
func TestStorageErrorKeepsTypedErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	corrupt := &CorruptEventError{Position: 1, Stream: "s", Revision: "0", Problem: "p"}
	for _, err := range []error{context.Canceled, corrupt, &ForeignSchemaError{Path: "p"}, eventstore.ErrClosed} {
		if got := storageError(context.Background(), "test", err); got != err {
			t.Errorf("storageError(%v) = %v, want it unchanged", err, got)
		}
	}
	if got := storageError(ctx, "test", sqlite3.Error{Code: sqlite3.ErrInterrupt}); got != context.Canceled {
		t.Errorf("an interruption by an ended context: got %v, want context.Canceled", got)
	}
}
