package esdbtest

import (
	"sort"
	"strconv"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// streamsService implements the Streams service over an eventLog.
type streamsService struct {
	streams.UnimplementedStreamsServer
	log *eventLog
}

// Read implements Streams.Read: count reads of a stream or of $all, and
// subscriptions (count_option = subscription).
func (s *streamsService) Read(req *streams.ReadReq, rs streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil || o.GetUuidOption() == nil {
		// The real server requires uuid_option and answers InvalidArgument without it.
		return status.Error(codes.InvalidArgument, "read: options and uuid_option are required")
	}
	asString := o.GetUuidOption().GetString_() != nil
	switch o.GetCountOption().(type) {
	case *streams.ReadReq_Options_Subscription:
		return s.subscribe(o, rs, asString)
	case *streams.ReadReq_Options_Count:
	default:
		return status.Error(codes.InvalidArgument, "read: count_option is required")
	}
	count := o.GetCount()
	backwards := o.GetReadDirection() == streams.ReadReq_Options_Backwards
	var recs []*record
	if all := o.GetAll(); all != nil {
		recs = s.log.readAll(all, backwards, count)
	} else if so := o.GetStream(); so != nil {
		name := string(so.GetStreamIdentifier().GetStreamName())
		var found, deleted bool
		recs, found, deleted = s.log.readStream(name, so, backwards, count)
		if deleted {
			return streamDeleted(rs, name)
		}
		if !found {
			// A message, then a normal end: the client turns it into ResourceNotFound on
			// the first Recv. Nothing but events and stream_not_found may be sent to a
			// count read (the client panics on first/last stream position messages).
			return rs.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{
				StreamNotFound: &streams.ReadResp_StreamNotFound{StreamIdentifier: so.GetStreamIdentifier()},
			}})
		}
	} else {
		return status.Error(codes.InvalidArgument, "read: stream_option is required")
	}
	for _, r := range recs {
		if err := rs.Send(eventResp(r, asString)); err != nil {
			return err
		}
	}
	return nil
}

// readStream returns up to count visible events of a stream from the requested
// revision, inclusive both ways. found is false for a stream with no events or a
// soft-deleted one; deleted is true for a tombstoned one (or the metastream of
// one). Events cut off by the stream's metadata ($tb, $maxCount, $maxAge) are
// skipped; when they are all hidden the read is empty, not "not found"
// (IndexReader.ReadStreamEventsForward/Backward).
func (l *eventLog) readStream(name string, so *streams.ReadReq_Options_StreamOptions, backwards bool, count uint64) (recs []*record, found, deleted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isDeleted(name) {
		return nil, false, true
	}
	st := l.streams[name]
	m := l.readMeta(name)
	if !st.exists() || m.softDeleted() {
		return nil, false, false
	}
	lo, last, now := visibleFrom(st, m), st.last(), time.Now()
	if !backwards {
		var from uint64
		switch v := so.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			from = v.Revision
		case *streams.ReadReq_Options_StreamOptions_End:
			return nil, true, false
		}
		for r := max(from, lo); r <= last && uint64(len(recs)) < count; r++ {
			if !expired(st.events[r], m, now) {
				recs = append(recs, st.events[r])
			}
		}
		return recs, true, false
	}
	from := last
	switch v := so.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		from = min(v.Revision, last)
	case *streams.ReadReq_Options_StreamOptions_Start:
		from = 0
	}
	for r := int64(from); r >= int64(lo) && uint64(len(recs)) < count; r-- {
		if !expired(st.events[r], m, now) {
			recs = append(recs, st.events[r])
		}
	}
	return recs, true, false
}

// isDeleted reports whether reads of name answer stream-deleted: it is tombstoned,
// or it is the metastream of a tombstoned stream. The caller holds mu.
func (l *eventLog) isDeleted(name string) bool {
	if st := l.streams[name]; st != nil && st.tombstoned {
		return true
	}
	if isMetastream(name) {
		st := l.streams[name[2:]]
		return st != nil && st.tombstoned
	}
	return false
}

// readMeta is the metadata reads of name obey: a metastream's is fixed, any other
// stream's is the last event of its metastream. The caller holds mu.
func (l *eventLog) readMeta(name string) streamMeta {
	if isMetastream(name) {
		return metastreamMeta
	}
	if st := l.streams[name]; st != nil {
		return st.meta
	}
	return streamMeta{}
}

// visibleFrom is the lowest revision a read of st may return under m: $tb, and the
// last $maxCount revisions.
func visibleFrom(st *stream, m streamMeta) uint64 {
	lo := m.tb
	if n := uint64(len(st.events)); m.maxCount > 0 && n > m.maxCount {
		lo = max(lo, n-m.maxCount)
	}
	return lo
}

// expired reports whether r is older than m's $maxAge at now; age is checked at read
// time, as on the server.
func expired(r *record, m streamMeta, now time.Time) bool {
	return m.maxAge > 0 && r.created < ticks(now.Add(-m.maxAge))
}

// readAll returns up to count records of $all, system events included. Forwards from
// a position is inclusive (>= pos); backwards is strictly before it (AllReader.cs).
func (l *eventLog) readAll(all *streams.ReadReq_Options_AllOptions, backwards bool, count uint64) []*record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var recs []*record
	if !backwards {
		i := 0
		switch v := all.GetAllOption().(type) {
		case *streams.ReadReq_Options_AllOptions_Position:
			i = l.firstAtOrAfter(v.Position.GetCommitPosition())
		case *streams.ReadReq_Options_AllOptions_End:
			return nil
		}
		for ; i < len(l.all) && uint64(len(recs)) < count; i++ {
			recs = append(recs, l.all[i])
		}
		return recs
	}
	i := len(l.all) - 1
	switch v := all.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		i = l.firstAtOrAfter(v.Position.GetCommitPosition()) - 1
	case *streams.ReadReq_Options_AllOptions_Start:
		return nil
	}
	for ; i >= 0 && uint64(len(recs)) < count; i-- {
		recs = append(recs, l.all[i])
	}
	return recs
}

// firstAtOrAfter is the index of the first record whose position is >= pos.
// The caller holds mu.
func (l *eventLog) firstAtOrAfter(pos uint64) int {
	return sort.Search(len(l.all), func(i int) bool { return l.all[i].pos >= pos })
}

// eventResp is the wire form of a record. Its metadata always carries type,
// content-type and created: without created the client calls log.Fatalf.
func eventResp(r *record, asString bool) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               toProtoUUID(r.id, asString),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.pos,
			CommitPosition:   r.pos,
			Metadata: map[string]string{
				"type":         r.typ,
				"content-type": r.contentType,
				"created":      strconv.FormatInt(r.created, 10),
			},
			CustomMetadata: r.meta,
			Data:           r.data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos},
	}}}
}
