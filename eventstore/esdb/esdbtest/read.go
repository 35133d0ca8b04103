package esdbtest

import (
	"sort"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
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
	var (
		recs []*record
		err  error
	)
	if all := o.GetAll(); all != nil {
		recs = s.log.readAll(all, backwards, count)
	} else if so := o.GetStream(); so != nil {
		name := string(so.GetStreamIdentifier().GetStreamName())
		var found bool
		recs, found, err = s.log.readStream(name, so, backwards, count)
		if err != nil {
			rs.SetTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", name))
			return err
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
// soft-deleted one; err is the gRPC error for a tombstoned one.
func (l *eventLog) readStream(name string, so *streams.ReadReq_Options_StreamOptions, backwards bool, count uint64) (recs []*record, found bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.streams[name]
	if st != nil && st.tombstoned {
		return nil, false, status.Errorf(codes.FailedPrecondition, "Event stream '%s' is deleted.", name)
	}
	if !st.exists() || st.softDeleted {
		return nil, false, nil
	}
	lo := st.tb
	if len(name) > 2 && name[:2] == "$$" {
		lo = st.last() // metastreams have an implicit $maxCount of 1
	}
	last := st.last()
	if !backwards {
		var from uint64
		switch v := so.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			from = v.Revision
		case *streams.ReadReq_Options_StreamOptions_End:
			return nil, true, nil
		}
		from = max(from, lo)
		for r := from; r <= last && uint64(len(recs)) < count; r++ {
			recs = append(recs, st.events[r])
		}
		return recs, true, nil
	}
	from := last
	switch v := so.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		from = min(v.Revision, last)
	case *streams.ReadReq_Options_StreamOptions_Start:
		from = 0
	}
	for r := int64(from); r >= int64(lo) && uint64(len(recs)) < count; r-- {
		recs = append(recs, st.events[r])
	}
	return recs, true, nil
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
