package esdb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/idemkit/idem/eventstore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clientError finds the client's *esdb.Error in err's chain. The client's own
// esdb.FromError is not used: its boolean is inverted (true means "no error") and it
// does not unwrap, so errors the client wraps itself (deletes) come out as Unknown.
func clientError(err error) (*esdbclient.Error, bool) {
	var e *esdbclient.Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// isCode reports whether err is a client error with the given code.
func isCode(err error, code esdbclient.ErrorCode) bool {
	e, ok := clientError(err)
	return ok && e.Code() == code
}

// grpcCode is the gRPC status code found in err's chain, or codes.Unknown.
func grpcCode(err error) codes.Code {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := status.FromError(e); ok {
			return s.Code()
		}
	}
	return codes.Unknown
}

// wrongVersionActual matches the client's text for WrongExpectedVersion, the only
// place it keeps the stream's actual revision:
// "wrong expected version: expecting '5' but got '1'" (client.go).
var wrongVersionActual = regexp.MustCompile(`got '(no_stream|\d+)'`)

// parseActual extracts the actual stream state from a WrongExpectedVersion error;
// ok is false when the text has no recognisable "got '...'".
func parseActual(err error) (eventstore.ExpectedRevision, bool) {
	m := wrongVersionActual.FindStringSubmatch(err.Error())
	if m == nil {
		return eventstore.ExpectedRevision{}, false
	}
	if m[1] == "no_stream" {
		return eventstore.NoStream(), true
	}
	n, perr := strconv.ParseUint(m[1], 10, 64)
	if perr != nil {
		return eventstore.ExpectedRevision{}, false
	}
	return eventstore.Exact(n), true
}

// mapError turns a client or gRPC error into idem's typed errors: stream not found,
// stream deleted, and unavailable (connection lost, deadline, server aborted, not
// leader: an append's outcome is then unknown and a retry with the same ids is safe).
// Context errors win when ctx is done. The original error stays in the chain.
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx != nil && ctx.Err() != nil {
		if errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if e, ok := clientError(err); ok {
		switch e.Code() {
		case esdbclient.ErrorCodeResourceNotFound:
			return fmt.Errorf("%w: %w", eventstore.ErrStreamNotFound, err)
		case esdbclient.ErrorCodeStreamDeleted:
			return fmt.Errorf("%w: %w", eventstore.ErrStreamDeleted, err)
		case esdbclient.ErrorUnavailable, esdbclient.ErrorCodeDeadlineExceeded, esdbclient.ErrorAborted,
			esdbclient.ErrorCodeConnectionClosed, esdbclient.ErrorCodeNotLeader:
			return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
		}
	}
	switch grpcCode(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	case codes.FailedPrecondition:
		if strings.Contains(err.Error(), "is deleted") {
			return fmt.Errorf("%w: %w", eventstore.ErrStreamDeleted, err)
		}
	}
	return err
}

// maxAppendLimit matches the server's refusal of an oversize append
// ("Maximum Append Size of N Exceeded."), which the client reports as Unknown.
var maxAppendLimit = regexp.MustCompile(`Maximum Append Size of (\d+) Exceeded`)
