package sqlite

import (
	"context"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// Append writes events to the end of stream, atomically, if the stream satisfies
// expected; see eventstore.Store and the package doc on group commit. A retry of an
// append already written (same ids, same order, after the same expected revision)
// writes nothing and returns the original result (G2).
//
// An append whose context ends before its batch starts fails with the context's
// error and writes nothing; once its batch has started, Append waits for the
// batch's outcome.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	// G11: validate before anything is queued, so bad input never reaches a batch.
	if err := backend.ValidateAppend(stream, expected, events, s.cfg.maxAppendSize); err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.group.Append(ctx, stream, expected, events)
}
