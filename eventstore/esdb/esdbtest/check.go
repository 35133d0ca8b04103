package esdbtest

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
