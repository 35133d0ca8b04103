package esdbtest

import (
	"context"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// subscribe serves a catch-up subscription to a stream or to $all: confirmation,
// the events after the start (exclusive), caught_up, then live events. Filtered $all
// subscriptions also get checkpoints every interval considered events and when they
// go live; unfiltered ones never do (Enumerator.AllSubscription[Filtered]).
func (s *streamsService) subscribe(o *streams.ReadReq_Options, rs streams.Streams_ReadServer, asString bool) error {
	sub, err := s.newSubscription(o, rs, asString)
	if err != nil {
		return err
	}
	if sub.isStream && s.log.deleted(sub.name) {
		return streamDeleted(rs, sub.name)
	}
	if err := rs.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{
		Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()},
	}}); err != nil {
		return err
	}
	ctx := rs.Context()
	for {
		// Taken before reading: a write that lands after the read still wakes us.
		wake, drop, done := s.log.signals()
		if err := sub.sendNewEvents(); err != nil {
			return err
		}
		if err := sub.sendCaughtUpOnce(); err != nil {
			return err
		}
		if err := waitForWrite(ctx, wake, drop, done); err != nil {
			return err
		}
	}
}

// subscription is the state of one subscription served by subscribe.
type subscription struct {
	log      *eventLog
	rs       streams.Streams_ReadServer
	asString bool    // event ids in string form
	filter   *filter // nil: every event
	isStream bool
	name     string // stream: its name
	next     uint64 // stream: next revision to deliver
	cursor   int    // $all: index of the next record to consider
	caughtUp bool

	considered     int // records considered so far
	lastConsidered *record
}

// newSubscription reads the subscription's filter and start.
func (s *streamsService) newSubscription(o *streams.ReadReq_Options, rs streams.Streams_ReadServer, asString bool) (*subscription, error) {
	f, err := toFilter(o)
	if err != nil {
		return nil, err
	}
	sub := &subscription{log: s.log, rs: rs, asString: asString, filter: f}
	if so := o.GetStream(); so != nil {
		sub.isStream = true
		sub.name = string(so.GetStreamIdentifier().GetStreamName())
		sub.next = s.log.streamStart(so)
	} else if all := o.GetAll(); all != nil {
		sub.cursor = s.log.allStart(all)
	} else {
		return nil, status.Error(codes.InvalidArgument, "subscribe: stream_option is required")
	}
	return sub, nil
}

// sendNewEvents sends what was written since the last call (on the first, what the
// catch-up reads), and ends a stream subscription whose stream is tombstoned.
func (sub *subscription) sendNewEvents() error {
	var batch []*record
	tombstoned := false
	if sub.isStream {
		batch, sub.next, tombstoned = sub.log.streamFrom(sub.name, sub.next, !sub.caughtUp)
	} else {
		batch = sub.log.allFrom(sub.cursor)
	}
	for _, r := range batch {
		if err := sub.consider(r); err != nil {
			return err
		}
	}
	if tombstoned {
		return streamDeleted(sub.rs, sub.name)
	}
	return nil
}

// consider sends r if the filter passes it, then a checkpoint every interval
// records when the subscription gets checkpoints.
func (sub *subscription) consider(r *record) error {
	if !sub.isStream {
		sub.cursor++
	}
	sub.lastConsidered = r
	sub.considered++
	if sub.filter == nil || sub.filter.matches(r) {
		if err := sub.rs.Send(eventResp(r, sub.asString)); err != nil {
			return err
		}
	}
	if sub.checkpoints() && sub.considered%sub.filter.interval == 0 {
		return sub.rs.Send(checkpointResp(r))
	}
	return nil
}

// sendCaughtUpOnce ends the catch-up, the first time it is called: a checkpoint at
// the last record considered, when the subscription gets checkpoints, then
// caught_up.
func (sub *subscription) sendCaughtUpOnce() error {
	if sub.caughtUp {
		return nil
	}
	sub.caughtUp = true
	if sub.checkpoints() && sub.lastConsidered != nil {
		if err := sub.rs.Send(checkpointResp(sub.lastConsidered)); err != nil {
			return err
		}
	}
	return sub.rs.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}})
}

// checkpoints reports whether the subscription gets checkpoints: filtered $all
// subscriptions do.
func (sub *subscription) checkpoints() bool { return sub.filter != nil && !sub.isStream }

// waitForWrite waits for the next write. It returns the error that ends the
// subscription when ctx is done, the server closes or subscriptions are dropped.
func waitForWrite(ctx context.Context, wake, drop, done <-chan struct{}) error {
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
			return nil
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
