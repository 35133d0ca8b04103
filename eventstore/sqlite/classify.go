package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
)

// storageError maps a driver error to a *StorageError of the right Kind. Context
// errors pass through unchanged (also the interruption SQLite reports when a
// query's context ends), and errors already typed are kept.
func storageError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *StorageError
	if errors.As(err, &se) || errors.Is(err, eventstore.ErrCorrupt) || errors.Is(err, eventstore.ErrIncompatible) || errors.Is(err, eventstore.ErrClosed) {
		return err
	}
	var sqErr sqlite3.Error
	if errors.As(err, &sqErr) {
		if sqErr.Code == sqlite3.ErrInterrupt && ctx != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return &StorageError{Op: op, Kind: errorClass(sqErr), Err: err}
	}
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	var kind error // database/sql's own errors: no class, unless the connection broke
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		kind = eventstore.ErrUnavailable
	}
	return &StorageError{Op: op, Kind: kind, Err: err}
}

// errorClass is the Kind of a StorageError for an error of SQLite: see
// StorageError. The statements of this package are fixed and the schema is
// checked by Open, so a plain SQL error (no such table or column), a datatype
// mismatch or a constraint refusing an insert mean that the file changed under
// the store into something it does not know: ErrIncompatible.
func errorClass(e sqlite3.Error) error {
	switch e.Code {
	case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrNomem, sqlite3.ErrFull, sqlite3.ErrProtocol,
		sqlite3.ErrSchema, sqlite3.ErrAbort, sqlite3.ErrInterrupt:
		return eventstore.ErrUnavailable
	case sqlite3.ErrIoErr:
		if kind := errnoClass(e.SystemErrno); kind != nil {
			return kind
		}
		return eventstore.ErrUnavailable
	case sqlite3.ErrCantOpen:
		return errnoClass(e.SystemErrno)
	case sqlite3.ErrCorrupt:
		return eventstore.ErrCorrupt
	case sqlite3.ErrNotADB, sqlite3.ErrFormat, sqlite3.ErrError, sqlite3.ErrMismatch, sqlite3.ErrConstraint:
		return eventstore.ErrIncompatible
	case sqlite3.ErrReadonly:
		return ErrReadOnly
	case sqlite3.ErrPerm, sqlite3.ErrAuth:
		return fs.ErrPermission
	}
	return nil
}

// errnoClass is the Kind for what the system said when SQLite could not open or
// use a file; nil when it said nothing known.
func errnoClass(errno syscall.Errno) error {
	switch errno {
	case syscall.ENOENT, syscall.ENOTDIR:
		return fs.ErrNotExist
	case syscall.EACCES, syscall.EPERM:
		return fs.ErrPermission
	case syscall.EROFS:
		return ErrReadOnly
	case syscall.EISDIR:
		return fs.ErrInvalid
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ENOSPC, syscall.EINTR, syscall.EAGAIN, syscall.EIO:
		return eventstore.ErrUnavailable
	}
	return nil
}

// explainOpen makes a failure of Open to open the file say what the file system
// says. SQLite's own report misleads: a file it cannot create read-write it
// tries again read-only, so a directory it cannot write reads "no such file or
// directory", as a missing one does.
func explainOpen(path string, err error) error {
	var se *StorageError
	var sqErr sqlite3.Error
	if !errors.As(err, &se) || !errors.As(err, &sqErr) || sqErr.Code != sqlite3.ErrCantOpen {
		return err
	}
	kind, why := diagnosePath(path, sqErr.SystemErrno)
	if kind == nil {
		return err
	}
	return &StorageError{Op: se.Op, Kind: kind, Err: &diagnosis{why: why, misleading: se.Err}}
}

// diagnosis is what the file system says about a failure that SQLite reported in
// misleading words: its message is the diagnosis alone; Unwrap still returns
// SQLite's error.
type diagnosis struct {
	why        string
	misleading error
}

func (d *diagnosis) Error() string { return d.why }
func (d *diagnosis) Unwrap() error { return d.misleading }

// diagnosePath looks at the file system for the reason why SQLite could not open
// the file at path, having failed with errno; kind is nil when it finds none.
func diagnosePath(path string, errno syscall.Errno) (kind error, why string) {
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fs.ErrNotExist, "directory " + quote.Q(dir) + " does not exist"
	case errors.Is(err, syscall.ENOTDIR) || (err == nil && !info.IsDir()):
		return fs.ErrNotExist, quote.Q(dir) + " is not a directory"
	case errors.Is(err, fs.ErrPermission):
		return fs.ErrPermission, "directory " + quote.Q(dir) + " cannot be searched"
	case err != nil:
		return nil, ""
	}
	info, err = os.Stat(path)
	switch {
	case err == nil && info.IsDir():
		return fs.ErrInvalid, quote.Q(path) + " is a directory, not a database file"
	case errors.Is(err, fs.ErrNotExist) && errno == syscall.ENOENT:
		return ErrReadOnly, "cannot create the file: directory " + quote.Q(dir) + " is not writable"
	case err == nil && errno == syscall.ENOENT:
		return ErrReadOnly, "cannot create its WAL files: directory " + quote.Q(dir) + " is not writable"
	}
	return nil, ""
}
