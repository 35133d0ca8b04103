package pgtarget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// storageError classifies an error of the driver. The caller's context decides
// first: when it is done, its error is returned as is. Then failures worth
// retrying match projection.ErrTargetUnavailable, damaged data reported by the
// server matches eventstore.ErrCorrupt, and everything else (a missing table or
// privilege, a read-only transaction, a constraint a handler violated) is
// returned as the driver reported it: errors.As finds its *pgconn.PgError and
// SQLSTATE.
func storageError(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, projection.ErrTargetUnavailable), errors.Is(err, eventstore.ErrCorrupt):
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "XX001" || pgErr.Code == "XX002": // data_corrupted, index_corrupted
			return fmt.Errorf("%w: %w", eventstore.ErrCorrupt, err)
		case retryable(pgErr.Code):
			return fmt.Errorf("%w: %w", projection.ErrTargetUnavailable, err)
		}
		return err
	}
	if connectionLost(err) {
		return fmt.Errorf("%w: %w", projection.ErrTargetUnavailable, err)
	}
	return err
}

// retryable reports whether a SQLSTATE says that the same statements may work
// if tried again (PostgreSQL's Appendix A, "Error Codes").
func retryable(code string) bool {
	switch code {
	case "55P03", // lock_not_available: lock_timeout (WithLockTimeout)
		"57014",                   // query_canceled: statement_timeout (the caller's context is not done)
		"57P01", "57P02", "57P03": // shutdown, crash shutdown, cannot connect now
		return true
	}
	switch code[:min(len(code), 2)] {
	case "08", // connection exception
		"40", // transaction rollback: serialization failure, deadlock
		"53", // insufficient resources: disk full, out of memory, too many connections
		"58": // system error: I/O error
		return true
	}
	return false
}

// connectionLost reports whether err, which the server did not send, comes from
// the connection: refused, reset, cut in the middle of a statement, or a
// connection pgx had already closed. Other errors of the driver (an argument it
// cannot encode) are the caller's.
func connectionLost(err error) bool {
	var connect *pgconn.ConnectError
	var netErr net.Error
	var pgconnErr interface{ SafeToRetry() bool } // pgconn's read, write and lock errors
	return errors.As(err, &connect) || errors.As(err, &netErr) || errors.As(err, &pgconnErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
