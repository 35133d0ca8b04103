package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/idemkit/idem/eventstore"
)

// ErrSchemaTooNew: the schema was written by a newer version of this package,
// whose layout this version does not know. It also matches
// eventstore.ErrIncompatible. Nothing was changed.
var ErrSchemaTooNew = errors.New("event store schema is newer than this version supports")

// ErrPoolExhausted: no connection of the pool became free within the store's
// timeout (WithTimeout). It also matches eventstore.ErrUnavailable.
var ErrPoolExhausted = errors.New("no free connection in the pool")

// SchemaVersionError reports a schema whose version this package cannot use. It
// matches ErrSchemaTooNew and eventstore.ErrIncompatible.
type SchemaVersionError struct {
	Schema    string
	Found     int
	Supported int
}

// Error names the schema and both versions.
func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("open schema %s: %v: version %d, this version supports up to %d",
		e.Schema, ErrSchemaTooNew, e.Found, e.Supported)
}

// Is matches ErrSchemaTooNew and eventstore.ErrIncompatible.
func (e *SchemaVersionError) Is(target error) bool {
	return target == ErrSchemaTooNew || target == eventstore.ErrIncompatible
}

// Error reports a failure of PostgreSQL or of the connection to it, typed by
// Kind:
//
//   - eventstore.ErrUnavailable: the server could not be reached, went away
//     (restart, a cut connection), was too busy (pool exhausted, too many
//     connections, a statement timeout, a serialization failure), or did not
//     answer in time. The outcome of an append that fails with it is unknown;
//     retrying it with the same ids is safe (G2).
//   - eventstore.ErrIncompatible: retrying will not help: the tables are not the
//     ones this package made, a function or privilege is missing, the login was
//     refused.
//   - eventstore.ErrCorrupt: the server reports damaged data.
//
// Unwrap returns the driver's error (a *pgconn.PgError carries the SQLSTATE).
type Error struct {
	// Op is what the store was doing: "append batch", "read stream"...
	Op string
	// Kind is eventstore.ErrUnavailable, eventstore.ErrIncompatible or
	// eventstore.ErrCorrupt.
	Kind error
	// Code is the SQLSTATE when the server sent one.
	Code string
	// Err is the driver's error.
	Err error
}

// Error says what the store was doing, the kind, the SQLSTATE and the driver's
// message.
func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("postgres %s: %v (SQLSTATE %s): %v", e.Op, e.Kind, e.Code, e.Err)
	}
	return fmt.Sprintf("postgres %s: %v: %v", e.Op, e.Kind, e.Err)
}

// Is matches e's Kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the driver's error.
func (e *Error) Unwrap() error { return e.Err }

// MapError maps an error of pgx (from a query on the store's pool, say, by code
// that keeps read models or snapshots beside the events) to the typed errors of
// this package: *Error with Kind eventstore.ErrUnavailable, ErrIncompatible or
// ErrCorrupt, wrapping the driver's error, or ctx's error when ctx is done. op
// says what was being done ("save snapshot"). nil stays nil.
func MapError(ctx context.Context, op string, err error) error { return storageError(ctx, op, err) }

// storageError maps a driver error to a typed one. The caller's context decides
// first: when it is done, its error is returned as is (a query interrupted
// because the caller gave up is not a storage failure). Errors already typed are
// kept.
func storageError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	var typed *Error
	var wrong *eventstore.WrongExpectedRevisionError
	if errors.As(err, &typed) || errors.As(err, &wrong) || errors.Is(err, eventstore.ErrCorrupt) ||
		errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrIncompatible) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &Error{Op: op, Kind: kindOf(pgErr.Code), Code: pgErr.Code, Err: err}
	}
	// Everything else is the connection's: refused, reset, closed mid-query, a
	// deadline of the store's own (WithTimeout). Whether the server committed is
	// unknown.
	return &Error{Op: op, Kind: eventstore.ErrUnavailable, Err: err}
}

// kindOf classifies a SQLSTATE (see PostgreSQL's Appendix A, "Error Codes").
func kindOf(code string) error {
	if len(code) < 2 {
		return eventstore.ErrUnavailable
	}
	switch code {
	case "XX001", "XX002": // data_corrupted, index_corrupted
		return eventstore.ErrCorrupt
	case "57014": // query_canceled: statement_timeout, or a cancel request
		return eventstore.ErrUnavailable
	}
	switch code[:2] {
	case "08", // connection exception
		"40", // transaction rollback: serialization failure, deadlock
		"53", // insufficient resources: disk full, out of memory, too many connections
		"55", // object not in prerequisite state: lock_timeout
		"57", // operator intervention: shutdown, restart, cannot connect now
		"58": // system error: I/O error
		return eventstore.ErrUnavailable
	case "28", // invalid authorization
		"3D", // invalid catalog name: no such database
		"3F", // invalid schema name
		"42", // syntax error or access rule violation: missing table, function, privilege
		"0A", // feature not supported
		"22", // data exception: the database cannot hold what was sent
		"23", // integrity constraint violation outside the append path
		"54": // program limit exceeded
		return eventstore.ErrIncompatible
	}
	return eventstore.ErrUnavailable
}

// corruptRow reports a stored event that could not be decoded.
func corruptRow(position int64, reason string) error {
	return fmt.Errorf("event at position %d: %s: %w", position, reason, eventstore.ErrCorrupt)
}
