package esdbtest

import (
	"context"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Delete implements a soft delete: the stream reads as not found, and a later append
// undeletes it with revisions continuing after the old last one. The server records
// it as {"$tb": long.MaxValue} in the metastream.
func (s *streamsService) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	o := req.GetOptions()
	name := string(o.GetStreamIdentifier().GetStreamName())
	var exp expectation
	switch v := o.GetExpectedStreamRevision().(type) {
	case *streams.DeleteReq_Options_Revision:
		exp = expectation{kind: expectRevision, rev: v.Revision}
	case *streams.DeleteReq_Options_NoStream:
		exp = expectation{kind: expectNoStream}
	case *streams.DeleteReq_Options_StreamExists:
		exp = expectation{kind: expectStreamExists}
	}
	pos, err := s.log.delete(ctx, name, exp, false)
	if err != nil {
		return nil, err
	}
	return &streams.DeleteResp{PositionOption: &streams.DeleteResp_Position_{Position: &streams.DeleteResp_Position{
		CommitPosition: pos, PreparePosition: pos,
	}}}, nil
}

// Tombstone implements a hard delete: a $streamDeleted event with revision
// long.MaxValue; every later read or append answers stream-deleted.
func (s *streamsService) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	o := req.GetOptions()
	name := string(o.GetStreamIdentifier().GetStreamName())
	var exp expectation
	switch v := o.GetExpectedStreamRevision().(type) {
	case *streams.TombstoneReq_Options_Revision:
		exp = expectation{kind: expectRevision, rev: v.Revision}
	case *streams.TombstoneReq_Options_NoStream:
		exp = expectation{kind: expectNoStream}
	case *streams.TombstoneReq_Options_StreamExists:
		exp = expectation{kind: expectStreamExists}
	}
	pos, err := s.log.delete(ctx, name, exp, true)
	if err != nil {
		return nil, err
	}
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{Position: &streams.TombstoneResp_Position{
		CommitPosition: pos, PreparePosition: pos,
	}}}, nil
}

// delete soft-deletes or tombstones a stream after checking exp as an append of
// one new event would be (StorageWriterService's WriteDelete runs CheckCommit).
// Errors are FailedPrecondition with trailers, as RpcExceptions.StreamDeleted and
// RpcExceptions.WrongExpectedVersion.
func (l *eventLog) delete(ctx context.Context, name string, exp expectation, tombstone bool) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.streams[name]
	if st != nil && st.tombstoned {
		return 0, streamDeleted(unaryCall{ctx}, name)
	}
	// The current version is the last event's revision, soft-deleted or not.
	exists := st.exists()
	ok := false
	switch exp.kind {
	case expectAny:
		ok = true
	case expectNoStream:
		// A NoStream check passes on a soft-deleted stream (its new id is not there).
		ok = !exists || st.softDeleted()
	case expectStreamExists:
		if st.softDeleted() {
			return 0, streamDeleted(unaryCall{ctx}, name)
		}
		ok = exists || st.hasMeta
	default:
		ok = exists && exp.rev == st.last()
	}
	if ok && !tombstone && !exists && (st == nil || !st.hasMeta) {
		// Soft-deleting a stream that never existed fails; tombstoning it succeeds.
		ok = false
	}
	if !ok {
		actual := "-1"
		if exists {
			actual = strconv.FormatUint(st.last(), 10)
		}
		_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "wrong-expected-version", "stream-name", name,
			"expected-version", expectString(exp), "actual-version", actual))
		return 0, status.Errorf(codes.FailedPrecondition, "Append failed due to WrongExpectedVersion. Stream: %s, Expected version: %s, Actual version: %s", name, expectString(exp), actual)
	}
	var r *record
	if tombstone {
		l.stream(name).tombstoned = true
		r = l.write(name, tombstoneRevision, uuid.New(), "$streamDeleted", "application/octet-stream", []byte{}, nil)
	} else {
		// The server replaces the metadata: keys other than $tb are lost.
		r = l.writeNext("$$"+name, uuid.New(), "$metadata", "application/json",
			[]byte(`{"$tb":`+strconv.FormatUint(softDeletedTB, 10)+`}`), nil)
	}
	l.notify()
	return r.pos, nil
}

func expectString(e expectation) string {
	switch e.kind {
	case expectAny:
		return "-2"
	case expectNoStream:
		return "-1"
	case expectStreamExists:
		return "-4"
	default:
		return strconv.FormatUint(e.rev, 10)
	}
}
