package postgres

import (
	"context"
	"math"
	"strings"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// Append writes events to the end of stream, atomically, if the stream satisfies
// expected; see eventstore.Store and the package doc on group commit. A retry of an
// append already written (same ids, same order, after the same expected revision)
// writes nothing and returns the original result with Outcome eventstore.Replayed
// (G2); every other success reports eventstore.Written.
//
// An append whose context ends before its batch starts fails with the context's
// error and writes nothing; once its batch has been sent, Append waits for the
// batch's outcome (bounded by WithTimeout). A batch whose answer is lost (a cut
// connection, a restarting server, the timeout) fails with an error matching
// eventstore.ErrUnavailable: it may or may not have been committed, and retrying
// with the same ids tells which (Replayed) or writes it (Written).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	// G11: validate before anything is queued, so bad input never reaches a batch.
	if err := backend.ValidateAppend(stream, expected, events, s.cfg.maxAppendSize); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := validateText(events); err != nil {
		return eventstore.AppendResult{}, backend.AppendError(stream, expected, err)
	}
	return s.group.Append(ctx, stream, expected, events)
}

// validateText refuses what PostgreSQL's text type cannot hold and the common
// checks let through: a NUL byte in an event type.
func validateText(events []eventstore.EventData) error {
	for i, e := range events {
		if strings.IndexByte(e.Type, 0) >= 0 {
			return &eventstore.InvalidEventError{Index: i, ID: e.ID, Reason: "type contains a NUL byte, which PostgreSQL text cannot hold"}
		}
	}
	return nil
}

// appendArgs returns the arguments of the append function for r.
func appendArgs(r *backend.Request, now any) []any {
	n := len(r.Events)
	ids := make([][16]byte, n)
	types := make([]string, n)
	data := make([][]byte, n)
	meta := make([][]byte, n)
	for i, e := range r.Events {
		ids[i], types[i], data[i], meta[i] = e.ID, e.Type, e.Data, e.Metadata
	}
	expected := int64(-1)
	if rev, ok := r.Expected.Revision(); ok {
		// A revision beyond int64 is one no stream reaches: it never matches.
		expected = int64(min(rev, math.MaxInt64))
	}
	return []any{r.Stream, int32(r.Expected.Kind()), expected, ids, types, data, meta, now}
}
