package esdbtest

import (
	"regexp"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// defaultSearchWindow is the checkpoint interval base when the filter sets none.
const defaultSearchWindow = 32

// filter is a subscription's server-side filter on event type or stream name.
type filter struct {
	onType   bool
	prefixes []string
	re       *regexp.Regexp
	interval int // checkpoint every interval considered events
}

func (f *filter) matches(r *record) bool {
	s := r.stream
	if f.onType {
		s = r.typ
	}
	if f.re != nil {
		return f.re.MatchString(s)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func toFilter(o *streams.ReadReq_Options) (*filter, error) {
	fo := o.GetFilter()
	if fo == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	if e := fo.GetEventType(); e != nil {
		f.onType, expr = true, e
	} else {
		expr = fo.GetStreamIdentifier()
	}
	if expr == nil || (expr.GetRegex() == "" && len(expr.GetPrefix()) == 0) {
		return nil, status.Error(codes.InvalidArgument, "subscribe: a filter needs a regex or prefixes")
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "subscribe: invalid filter regex: %v", err)
		}
		f.re = re
	}
	f.prefixes = expr.GetPrefix()
	window := defaultSearchWindow
	if m := fo.GetMax(); m > 0 {
		window = int(m)
	}
	mult := int(fo.GetCheckpointIntervalMultiplier())
	f.interval = window * max(mult, 1)
	return f, nil
}

// subscribe serves a catch-up subscription to a stream or to $all: confirmation,
// the events after the start (exclusive), caught_up, then live events. Filtered $all
// subscriptions also get checkpoints every interval considered events and when they
// go live; unfiltered ones never do (Enumerator.AllSubscription[Filtered]).
func (s *streamsService) subscribe(o *streams.ReadReq_Options, rs streams.Streams_ReadServer, asString bool) error {
	f, err := toFilter(o)
	if err != nil {
		return err
	}
	var (
		name     string
		isStream bool
		cursor   int    // $all: index of the next record to consider
		next     uint64 // stream: next revision to deliver
	)
	if so := o.GetStream(); so != nil {
		isStream = true
		name = string(so.GetStreamIdentifier().GetStreamName())
		next = s.log.streamStart(so)
	} else if all := o.GetAll(); all != nil {
		cursor = s.log.allStart(all)
	} else {
		return status.Error(codes.InvalidArgument, "subscribe: stream_option is required")
	}
	deleted := func() error {
		rs.SetTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", name))
		return status.Errorf(codes.FailedPrecondition, "Event stream '%s' is deleted.", name)
	}
	if isStream && s.log.deleted(name) {
		return deleted()
	}
	if err := rs.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{
		Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()},
	}}); err != nil {
		return err
	}
	ctx := rs.Context()
	caughtUp := false
	considered := 0
	var lastConsidered *record
	for {
		wake, drop, done := s.log.signals()
		var batch []*record
		tombstoned := false
		if isStream {
			batch, next, tombstoned = s.log.streamFrom(name, next, !caughtUp)
		} else {
			batch = s.log.allFrom(cursor)
		}
		for _, r := range batch {
			if !isStream {
				cursor++
			}
			lastConsidered = r
			considered++
			if f == nil || f.matches(r) {
				if err := rs.Send(eventResp(r, asString)); err != nil {
					return err
				}
			}
			if f != nil && !isStream && considered%f.interval == 0 {
				if err := rs.Send(checkpointResp(r)); err != nil {
					return err
				}
			}
		}
		if tombstoned {
			return deleted()
		}
		if !caughtUp {
			caughtUp = true
			if f != nil && !isStream && lastConsidered != nil {
				if err := rs.Send(checkpointResp(lastConsidered)); err != nil {
					return err
				}
			}
			if err := rs.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return status.Error(codes.Unavailable, "esdbtest: server closed")
		case <-drop:
			return errDropped
		case <-wake:
			// A drop that fired together with new events must not be lost when
			// select picks the wake-up: the next signals() hands out a fresh drop.
			select {
			case <-drop:
				return errDropped
			default:
			}
		}
	}
}

var errDropped = status.Error(codes.Unavailable, "esdbtest: injected fault: subscription dropped")

func checkpointResp(r *record) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
		CommitPosition: r.pos, PreparePosition: r.pos,
	}}}
}

// allStart is the index of the first record a $all subscription delivers: starts
// are exclusive (position > p).
func (l *eventLog) allStart(all *streams.ReadReq_Options_AllOptions) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch v := all.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		return l.firstAtOrAfter(v.Position.GetCommitPosition() + 1)
	case *streams.ReadReq_Options_AllOptions_End:
		return len(l.all)
	default:
		return 0
	}
}

// streamStart is the first revision a stream subscription delivers: after the given
// revision (exclusive), from 0, or after the current end.
func (l *eventLog) streamStart(so *streams.ReadReq_Options_StreamOptions) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch v := so.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		return v.Revision + 1
	case *streams.ReadReq_Options_StreamOptions_End:
		st := l.streams[string(so.GetStreamIdentifier().GetStreamName())]
		if st.exists() {
			return st.last() + 1
		}
	}
	return 0
}

func (l *eventLog) allFrom(i int) []*record {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i >= len(l.all) {
		return nil
	}
	return l.all[i:len(l.all):len(l.all)]
}

// streamFrom returns the stream's events from revision next, the revision to go on
// from, and whether the stream is tombstoned. Catching up, it reads as a client read
// does (Enumerator.StreamSubscription reads pages with ReadStreamEventsForward):
// events hidden by $tb, $maxCount or $maxAge are skipped, a soft-deleted stream has
// none, and every event that exists now is passed. Live, it returns what was written
// since, metadata or not: live events come from the subscription service, which does
// not read stream metadata.
func (l *eventLog) streamFrom(name string, next uint64, catchUp bool) ([]*record, uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.streams[name]
	if st == nil {
		return nil, next, false
	}
	if st.tombstoned {
		return nil, next, true
	}
	end := uint64(len(st.events))
	if next >= end {
		return nil, next, false
	}
	if !catchUp {
		return st.events[next:end:end], end, false
	}
	m := l.readMeta(name)
	if m.softDeleted() {
		return nil, end, false
	}
	var recs []*record
	now := time.Now()
	for r := max(next, visibleFrom(st, m)); r < end; r++ {
		if !expired(st.events[r], m, now) {
			recs = append(recs, st.events[r])
		}
	}
	return recs, end, false
}

// deleted reports whether name reads as stream-deleted.
func (l *eventLog) deleted(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isDeleted(name)
}
