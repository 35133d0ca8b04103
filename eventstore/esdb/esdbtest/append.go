package esdbtest

import (
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// expectKind is the case of an expected stream revision on the wire.
type expectKind int

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectRevision
)

type expectation struct {
	kind expectKind
	rev  uint64
}

// proposed is one event of an append request.
type proposed struct {
	id          uuid.UUID
	typ         string
	contentType string
	data, meta  []byte
}

// outcomeKind is how an append ended.
type outcomeKind int

const (
	outcomeWritten outcomeKind = iota
	outcomeIdempotent
	outcomeWrongVersion
	outcomeDeleted
)

type outcome struct {
	kind outcomeKind
	// Success: the stream's revision after the append (or the original append's, for an
	// idempotent one) and the position of its last event. The server reports the
	// position of the prepare that ends the implicit transaction (StorageChaser's
	// CommitAck), and for a retry it reads the original's last event
	// (IndexWriter.CheckCommit's IdempotentLogPosition). noPosition: that read found
	// nothing (the event is hidden by $tb, $maxCount or $maxAge, or the stream is
	// soft-deleted), so the reply has no position. noStream: a successful empty append
	// to a stream with no events.
	rev        uint64
	pos        uint64
	noPosition bool
	noStream   bool
	// WrongVersion: the stream's state.
	exists bool
	last   uint64
}

// Append implements Streams.Append: options first, then one message per event, then
// a single reply. Concurrency failures are replies (WrongExpectedVersion), not errors;
// a deleted stream, an oversize append and malformed events are gRPC errors with
// trailers, as on the server (Streams.Append.cs).
func (s *streamsService) Append(as streams.Streams_AppendServer) error {
	name, exp, err := recvAppendOptions(as)
	if err != nil {
		return err
	}
	events, err := s.recvProposed(as)
	if err != nil {
		return err
	}
	out, injected := s.log.append(name, exp, events)
	if err := injectedError(injected); err != nil {
		return err
	}
	switch out.kind {
	case outcomeDeleted:
		return streamDeleted(as, name)
	case outcomeWrongVersion:
		return as.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(exp, out.exists, out.last),
		}})
	}
	return as.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: appendSuccess(out)}})
}

// recvAppendOptions receives the first message of an append: the stream and the
// expected revision.
func recvAppendOptions(as streams.Streams_AppendServer) (string, expectation, error) {
	req, err := as.Recv()
	if err != nil {
		return "", expectation{}, err
	}
	opts := req.GetOptions()
	if opts == nil || opts.GetStreamIdentifier() == nil {
		return "", expectation{}, status.Error(codes.InvalidArgument, "append: the first message must carry the options")
	}
	return string(opts.GetStreamIdentifier().GetStreamName()), appendExpectation(opts), nil
}

// recvProposed receives the events of an append, up to the client's end of stream.
// It counts their size as it goes and refuses the whole append as soon as it is
// over the limit, as KurrentDB does.
func (s *streamsService) recvProposed(as streams.Streams_AppendServer) ([]proposed, error) {
	var events []proposed
	size := 0
	for {
		msg, err := as.Recv()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return nil, err
		}
		pm := msg.GetProposedMessage()
		if pm == nil {
			return nil, status.Error(codes.InvalidArgument, "append: expected a proposed message")
		}
		p, err := toProposed(pm)
		if err != nil {
			as.SetTrailer(metadata.Pairs("exception", "missing-required-metadata-property", "required-metadata-properties", "type,content-type"))
			return nil, err
		}
		size += sizeOnDisk(p.typ, p.data, p.meta)
		if limit := s.log.cfg.maxAppendSize; size > limit {
			as.SetTrailer(metadata.Pairs("exception", "maximum-append-size-exceeded", "maximum-append-size", strconv.Itoa(limit)))
			return nil, status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", limit)
		}
		events = append(events, p)
	}
}

// injectedError is the error an injected fault makes the append fail with, or nil.
func injectedError(f fault) error {
	switch f {
	case faultBeforeCommit:
		return status.Error(codes.Unavailable, "esdbtest: injected fault: append failed before commit")
	case faultAfterCommit:
		return status.Error(codes.Unavailable, "esdbtest: injected fault: connection lost after the append was committed")
	}
	return nil
}

// appendSuccess is the reply to a written or idempotent append: the stream's
// revision (or no stream) and the position of the last event (or none).
func appendSuccess(out outcome) *streams.AppendResp_Success {
	success := &streams.AppendResp_Success{
		PositionOption: &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: out.pos, PreparePosition: out.pos,
		}},
	}
	if out.noStream || out.noPosition {
		success.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	}
	if out.noStream {
		success.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		success.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: out.rev}
	}
	return success
}

func appendExpectation(o *streams.AppendReq_Options) expectation {
	switch v := o.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		return expectation{kind: expectRevision, rev: v.Revision}
	case *streams.AppendReq_Options_NoStream:
		return expectation{kind: expectNoStream}
	case *streams.AppendReq_Options_StreamExists:
		return expectation{kind: expectStreamExists}
	default:
		return expectation{kind: expectAny}
	}
}

func toProposed(pm *streams.AppendReq_ProposedMessage) (proposed, error) {
	typ, okType := pm.GetMetadata()["type"]
	ct, okCT := pm.GetMetadata()["content-type"]
	if !okType || !okCT || typ == "" {
		return proposed{}, status.Error(codes.InvalidArgument, "Required Metadata Properties Missing: type, content-type")
	}
	id, err := fromProtoUUID(pm.GetId())
	if err != nil {
		return proposed{}, status.Errorf(codes.InvalidArgument, "invalid event id: %v", err)
	}
	return proposed{id: id, typ: typ, contentType: ct, data: pm.GetData(), meta: pm.GetCustomMetadata()}, nil
}

// append checks and commits an append under the lock, following
// IndexWriter.CheckCommit (KurrentDB src/KurrentDB.Core/Services/Storage/ReaderIndex).
func (l *eventLog) append(name string, exp expectation, events []proposed) (outcome, fault) {
	l.mu.Lock()
	defer l.mu.Unlock()
	injected := l.fault
	if injected == faultBeforeCommit {
		l.fault = faultNone
		return outcome{}, injected
	}

	out := l.check(name, exp, events)
	if out.kind == outcomeIdempotent {
		l.placeReplay(name, &out)
	}
	if out.kind != outcomeWritten {
		return out, faultNone
	}
	st := l.stream(name)
	if len(events) == 0 {
		if st.exists() {
			return outcome{kind: outcomeIdempotent, rev: st.last(), pos: st.events[len(st.events)-1].pos}, faultNone
		}
		return outcome{kind: outcomeIdempotent, noStream: true}, faultNone
	}
	// Both undelete rules look at the state before this write
	// (StorageWriterService.WritePrepares).
	undeleteStream := st.softDeleted()
	undeleteOriginal := isMetastream(name) && l.streams[name[2:]].softDeleted()
	var last *record
	for _, e := range events {
		last = l.writeNext(name, e.id, e.typ, e.contentType, e.data, e.meta)
	}
	if undeleteStream {
		// Appending undeletes a soft-deleted stream: revisions continue, and the
		// events from before the delete stay hidden below the new $tb.
		l.undelete(name, last.revision-uint64(len(events))+1)
	}
	if undeleteOriginal {
		// So does writing its metadata: the server rewrites what was just written with
		// $tb after the stream's last event (SoftUndeleteMetastream).
		orig := l.streams[name[2:]]
		l.undelete(name[2:], uint64(len(orig.events)))
	}
	l.appends++
	if !isSystemStream(name) && l.cfg.systemEventsGap > 0 && l.appends%l.cfg.systemEventsGap == 0 {
		l.writeStats()
	}
	l.notify()
	if injected == faultAfterCommit {
		l.fault = faultNone
		return outcome{}, injected
	}
	return outcome{kind: outcomeWritten, rev: st.last(), pos: last.pos}, faultNone
}

// undelete writes the soft-deleted stream's metadata again with $tb set to tb, other
// keys kept (StorageWriterService.SoftUndeleteStream). When the metadata is not a
// JSON object the server writes nothing, and so does this. The caller holds mu.
func (l *eventLog) undelete(name string, tb uint64) {
	data, ok := withTB(l.streams[name].rawMeta, tb)
	if !ok {
		return
	}
	l.writeNext("$$"+name, uuid.New(), "$metadata", "application/json", data, nil)
}

// placeReplay sets the position an idempotent reply reports: the original's last
// event, read as a client read would see it. A hidden event reads as nothing and the
// reply has no position. The caller holds mu.
func (l *eventLog) placeReplay(name string, out *outcome) {
	st := l.streams[name]
	if st == nil || out.noStream || out.rev >= uint64(len(st.events)) {
		return
	}
	r := st.events[out.rev]
	m := l.readMeta(name)
	if m.softDeleted() || out.rev < visibleFrom(st, m) || expired(r, m, time.Now()) {
		out.noPosition = true
		return
	}
	out.pos = r.pos
}

// wrongExpectedVersion fills both the current and the legacy (20.6.0) fields, as the
// server does.
func wrongExpectedVersion(exp expectation, exists bool, last uint64) *streams.AppendResp_WrongExpectedVersion {
	w := &streams.AppendResp_WrongExpectedVersion{}
	if exists {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: last}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: last}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	}
	switch exp.kind {
	case expectAny:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case expectStreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	case expectNoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.rev}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: exp.rev}
	}
	return w
}
