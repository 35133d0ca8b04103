package sqlite

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
)

// ErrReadOnly: the store cannot write its file or create the files it needs
// beside it (the WAL): a read-only file, directory or file system, or one this
// process has no permission to write. Retrying will not help until that changes.
var ErrReadOnly = errors.New("event store file is read-only")

// ErrSchemaTooNew: the database was written by a newer version of this package,
// whose schema this version does not know. Nothing was changed. Errors that match
// it also match eventstore.ErrIncompatible.
var ErrSchemaTooNew = errors.New("event store schema is newer than this version supports")

// SchemaVersionError reports a database whose schema version (its PRAGMA
// user_version) this package cannot use: a newer one (matching ErrSchemaTooNew),
// or a negative one, which no version writes: a foreign or damaged file. It
// matches eventstore.ErrIncompatible. Nothing was changed.
type SchemaVersionError struct {
	Path      string
	Found     int
	Supported int
}

func (e *SchemaVersionError) Error() string {
	if e.Found < 0 {
		return fmt.Sprintf("open %s: %v: schema version %d, which no version of this package writes",
			quote.Q(e.Path), eventstore.ErrIncompatible, e.Found)
	}
	return fmt.Sprintf("open %s: %v: schema version %d, this version supports up to %d",
		quote.Q(e.Path), ErrSchemaTooNew, e.Found, e.Supported)
}

// Is makes errors.Is match eventstore.ErrIncompatible, and ErrSchemaTooNew for a
// newer version.
func (e *SchemaVersionError) Is(target error) bool {
	return target == eventstore.ErrIncompatible || (target == ErrSchemaTooNew && e.Found > e.Supported)
}

// ForeignSchemaError reports a database whose events table is not the one this
// package creates (other columns, types or constraints, or no UNIQUE(stream,
// revision) index), or that claims a schema version of this package without the
// table. It matches eventstore.ErrIncompatible. Nothing was changed.
type ForeignSchemaError struct {
	Path string
	// Problem says what differs.
	Problem string
}

func (e *ForeignSchemaError) Error() string {
	return fmt.Sprintf("open %s: %v: the events table is not this package's: %s", quote.Q(e.Path), eventstore.ErrIncompatible, e.Problem)
}

// Is makes errors.Is(err, eventstore.ErrIncompatible) true.
func (e *ForeignSchemaError) Is(target error) bool { return target == eventstore.ErrIncompatible }

// StorageError reports a failure of SQLite or of the file under it. Kind says
// what the caller can do about it:
//
//   - eventstore.ErrUnavailable: the write lock not obtained within the busy
//     timeout, an I/O error, a full disk, memory exhausted. Retrying may help: an
//     append's outcome is unknown to the caller and retrying it with the same ids
//     is safe (G2).
//   - eventstore.ErrCorrupt: a damaged file.
//   - eventstore.ErrIncompatible: a file that is not a database, or whose schema
//     changed under the store into one it cannot use.
//   - ErrReadOnly: the file, its directory or its file system cannot be written.
//   - fs.ErrPermission: the file or its directory cannot be read.
//   - fs.ErrNotExist: the file's directory does not exist.
//   - fs.ErrInvalid: the path names a directory.
//   - nil: a failure of no known class (a value too big for SQLite, a misuse):
//     not worth retrying as it is.
//
// Only ErrUnavailable is worth retrying without a change elsewhere. Unwrap returns
// the underlying error: the driver's, or what the file system said.
type StorageError struct {
	// Op is what the store was doing: "begin append batch", "commit append batch"...
	Op string
	// Kind is the class of the failure, one of those listed above.
	Kind error
	// Err is the underlying error.
	Err error
}

func (e *StorageError) Error() string {
	if e.Kind == nil {
		return fmt.Sprintf("sqlite %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("sqlite %s: %v: %v", e.Op, e.Kind, e.Err)
}

// Is matches e's Kind.
func (e *StorageError) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// Unwrap returns the underlying error.
func (e *StorageError) Unwrap() error { return e.Err }

// CorruptEventError reports a stored event that cannot be read back: a column of
// its row holds a value this package never writes (rows.go states the rule), or a
// revision of its stream is missing. It matches eventstore.ErrCorrupt. Nothing was
// changed; the row can be found by its position.
type CorruptEventError struct {
	// Position is the row's position in the global log: its primary key.
	Position int64
	// Stream is the stream the row belongs to, or "" when its stream column holds
	// no stream name (Problem then says what it holds).
	Stream string
	// Revision is the row's revision as stored: "3", or what the column holds
	// instead ("NULL", "integer -1", `text "x"`...).
	Revision string
	// Problem says which column is wrong, and how.
	Problem string
}

func (e *CorruptEventError) Error() string {
	stream := "with no stream name"
	if e.Stream != "" {
		stream = "of stream " + quote.Q(e.Stream)
	}
	return fmt.Sprintf("event at position %d %s at revision %s: %s: %v", e.Position, stream, e.Revision, e.Problem, eventstore.ErrCorrupt)
}

// Is makes errors.Is(err, eventstore.ErrCorrupt) true.
func (e *CorruptEventError) Is(target error) bool { return target == eventstore.ErrCorrupt }

// storedRevision is a revision column's value for CorruptEventError.Revision.
func storedRevision(v any) string {
	if n, ok := v.(int64); ok {
		return strconv.FormatInt(n, 10)
	}
	return describe(v)
}

// describe says what a driver value is, for error messages: its storage class
// and, briefly, its value.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return "integer " + strconv.FormatInt(v, 10)
	case float64:
		return "real " + strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		if v == "" {
			return "empty text"
		}
		return "text " + quote.Q(v)
	case []byte:
		return fmt.Sprintf("blob of %d bytes", len(v))
	}
	return fmt.Sprintf("a %T", v)
}
