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
	req, err := as.Recv()
	if err != nil {
		return err
	}
	opts := req.GetOptions()
	if opts == nil || opts.GetStreamIdentifier() == nil {
		return status.Error(codes.InvalidArgument, "append: the first message must carry the options")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	exp := appendExpectation(opts)

	var events []proposed
	size := 0
	for {
		msg, err := as.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := msg.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "append: expected a proposed message")
		}
		p, err := toProposed(pm)
		if err != nil {
			as.SetTrailer(metadata.Pairs("exception", "missing-required-metadata-property", "required-metadata-properties", "type,content-type"))
			return err
		}
		size += sizeOnDisk(p.typ, p.data, p.meta)
		if size > s.log.cfg.maxAppendSize {
			// KurrentDB counts while receiving and refuses the whole append.
			as.SetTrailer(metadata.Pairs("exception", "maximum-append-size-exceeded",
				"maximum-append-size", strconv.Itoa(s.log.cfg.maxAppendSize)))
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", s.log.cfg.maxAppendSize)
		}
		events = append(events, p)
	}

	out, injected := s.log.append(name, exp, events)
	if injected == faultBeforeCommit {
		return status.Error(codes.Unavailable, "esdbtest: injected fault: append failed before commit")
	}
	if injected == faultAfterCommit {
		return status.Error(codes.Unavailable, "esdbtest: injected fault: connection lost after the append was committed")
	}
	switch out.kind {
	case outcomeDeleted:
		as.SetTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", name))
		return status.Errorf(codes.FailedPrecondition, "Event stream '%s' is deleted.", name)
	case outcomeWrongVersion:
		return as.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(exp, out.exists, out.last),
		}})
	}
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
	return as.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: success}})
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

// check decides an append without writing: written (go ahead), idempotent (a retry
// of an append already written: reply with the original result), wrong version, or
// deleted. The caller holds mu.
func (l *eventLog) check(name string, exp expectation, events []proposed) outcome {
	st := l.streams[name]
	if st != nil && st.tombstoned {
		return outcome{kind: outcomeDeleted}
	}
	// The current version is the last event's revision, soft-deleted or not.
	exists := st.exists()
	var last uint64
	if exists {
		last = st.last()
	}
	wrong := outcome{kind: outcomeWrongVersion, exists: exists, last: last}
	switch exp.kind {
	case expectAny:
		return l.checkCached(name, events)
	case expectStreamExists:
		if st.softDeleted() {
			return outcome{kind: outcomeDeleted} // RequestManagerBase.cs: StreamDeleted, not WEV
		}
		if !exists && (st == nil || !st.hasMeta) {
			return wrong // a stream with metadata but no events passes
		}
		return l.checkCached(name, events)
	case expectNoStream:
		if !exists {
			return outcome{kind: outcomeWritten}
		}
		return l.checkIndexed(st, -1, events, wrong, st.softDeleted())
	default:
		if exists && exp.rev == last {
			return outcome{kind: outcomeWritten}
		}
		if exists && exp.rev < last {
			return l.checkIndexed(st, int64(exp.rev), events, wrong, false)
		}
		return wrong
	}
}

// checkIndexed is the strong idempotency check of Exact and NoStream: the events
// after the expected revision must carry the append's ids, all of them, in order.
// Hidden events count: the server reads them past the stream's metadata
// (IndexReader.ReadPrepare). freshIsWrite: NoStream on a soft-deleted stream, where
// an append whose first id is new is a write, not a conflict.
func (l *eventLog) checkIndexed(st *stream, expected int64, events []proposed, wrong outcome, freshIsWrite bool) outcome {
	if len(events) == 0 {
		if freshIsWrite {
			return outcome{kind: outcomeWritten}
		}
		return wrong
	}
	for i, e := range events {
		rev := expected + 1 + int64(i)
		if rev >= int64(len(st.events)) || st.events[rev].id != e.id {
			if i == 0 && freshIsWrite {
				return outcome{kind: outcomeWritten}
			}
			// First id differs: WrongExpectedVersion; a later one: CorruptedIdempotency,
			// which the client also sees as WrongExpectedVersion.
			return wrong
		}
	}
	return outcome{kind: outcomeIdempotent, rev: uint64(expected) + uint64(len(events))}
}

// checkCached is the best-effort check of Any and StreamExists, through the bounded
// committed-events cache: first id unknown -> write (a duplicate if the original was
// evicted); all ids known, in this stream, consecutive -> idempotent; otherwise WEV.
func (l *eventLog) checkCached(name string, events []proposed) outcome {
	if len(events) == 0 {
		return outcome{kind: outcomeWritten}
	}
	first, ok := l.cache.get(events[0].id)
	if !ok || first.stream != name {
		return outcome{kind: outcomeWritten}
	}
	st := l.streams[name]
	for i, e := range events {
		r, ok := l.cache.get(e.id)
		if !ok || r.stream != name || r.revision != first.revision+uint64(i) {
			return outcome{kind: outcomeWrongVersion, exists: st.exists(), last: st.last()}
		}
	}
	return outcome{kind: outcomeIdempotent, rev: first.revision + uint64(len(events)) - 1}
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

// fromProtoUUID decodes either wire form of an event id.
func fromProtoUUID(u *shared.UUID) (uuid.UUID, error) {
	if u == nil {
		return uuid.Nil, errors.New("missing id")
	}
	if st := u.GetStructured(); st != nil {
		var b [16]byte
		putUint64(b[:8], uint64(st.GetMostSignificantBits()))
		putUint64(b[8:], uint64(st.GetLeastSignificantBits()))
		return uuid.UUID(b), nil
	}
	return uuid.Parse(u.GetString_())
}

// toProtoUUID encodes id in the form the read asked for.
func toProtoUUID(id uuid.UUID, asString bool) *shared.UUID {
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(getUint64(id[:8])),
		LeastSignificantBits: int64(getUint64(id[8:])),
	}}}
}

func putUint64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func getUint64(b []byte) uint64 {
	var v uint64
	for _, x := range b[:8] {
		v = v<<8 | uint64(x)
	}
	return v
}
