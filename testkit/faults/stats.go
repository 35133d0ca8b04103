package faults

import "sync/atomic"

// Stats counts the calls a Store saw and the faults it injected.
type Stats struct {
	// Calls seen, by method.
	Appends, ReadStreams, ReadAlls, Subscriptions int64
	// LostAcks counts appends written and then failed.
	LostAcks int64
	// FailedAppends counts appends failed before writing.
	FailedAppends int64
	// FailedReads counts reads failed midway (ReadStream and ReadAll).
	FailedReads int64
	// DroppedSubscriptions counts subscriptions ended with an injected error.
	DroppedSubscriptions int64
	// Delays counts calls that were made to wait.
	Delays int64
}

// Injected is the number of failures injected (delays are not failures).
func (s Stats) Injected() int64 {
	return s.LostAcks + s.FailedAppends + s.FailedReads + s.DroppedSubscriptions
}

// stats holds the live counters of a Store.
type stats struct {
	appends, readStreams, readAlls, subscriptions              atomic.Int64
	lostAcks, failedAppends, failedReads, droppedSubscriptions atomic.Int64
	delays                                                     atomic.Int64
}

// Stats returns a snapshot of the counters. Counters are read one by one, so a
// snapshot taken while calls run may be a little inconsistent.
func (s *Store) Stats() Stats {
	c := &s.stats
	return Stats{
		Appends: c.appends.Load(), ReadStreams: c.readStreams.Load(),
		ReadAlls: c.readAlls.Load(), Subscriptions: c.subscriptions.Load(),
		LostAcks: c.lostAcks.Load(), FailedAppends: c.failedAppends.Load(),
		FailedReads: c.failedReads.Load(), DroppedSubscriptions: c.droppedSubscriptions.Load(),
		Delays: c.delays.Load(),
	}
}
