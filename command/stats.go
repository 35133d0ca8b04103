package command

import "sync/atomic"

// Stats is a snapshot of a Handler's counters (G12): plain numbers, no metrics stack.
// Export them to whatever the application uses.
type Stats struct {
	// Handled counts Handle calls that passed validation.
	Handled uint64
	// Applied counts commands whose events this handler wrote.
	Applied uint64
	// DuplicatesByID counts commands answered from the processed set (G3, G4).
	DuplicatesByID uint64
	// DuplicatesByKey counts commands the decider reported as AlreadyDone (G5).
	DuplicatesByKey uint64
	// KeyReused counts command ids sent again with another payload.
	KeyReused uint64
	// ConflictsRetried counts appends that met a conflict (or an unknown outcome)
	// and were retried.
	ConflictsRetried uint64
	// RetriesExhausted counts commands given up after the retry budget.
	RetriesExhausted uint64
	// Rejected counts domain rejections (including ones answered from a marker).
	Rejected uint64
	// NoOps counts commands that decided no events.
	NoOps uint64
	// Invalid counts commands refused by validation.
	Invalid uint64
	// CacheHits counts commands served from the aggregate cache without a load.
	CacheHits uint64
	// Loads counts aggregate loads from the store.
	Loads uint64
	// SnapshotsSaved counts snapshots written.
	SnapshotsSaved uint64
	// CatchUps counts reads of only the events after a revision already known:
	// after a conflict, a stale cached aggregate, or the aggregate the previous
	// command of the stream left (instead of a load).
	CatchUps uint64
	// EventsCaughtUp counts the events those reads returned.
	EventsCaughtUp uint64
	// Lookups counts commands looked up by their first event's id (a store that
	// finds events by id, for an aggregate not in memory or whose processed set is
	// partial).
	Lookups uint64
}

type counters struct {
	handled, applied, dupByID, dupByKey, keyReused, conflicts, exhausted,
	rejected, noops, invalid, cacheHits, loads, snapshots, catchUps, caughtUp, lookups atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Handled:          c.handled.Load(),
		Applied:          c.applied.Load(),
		DuplicatesByID:   c.dupByID.Load(),
		DuplicatesByKey:  c.dupByKey.Load(),
		KeyReused:        c.keyReused.Load(),
		ConflictsRetried: c.conflicts.Load(),
		RetriesExhausted: c.exhausted.Load(),
		Rejected:         c.rejected.Load(),
		NoOps:            c.noops.Load(),
		Invalid:          c.invalid.Load(),
		CacheHits:        c.cacheHits.Load(),
		Loads:            c.loads.Load(),
		SnapshotsSaved:   c.snapshots.Load(),
		CatchUps:         c.catchUps.Load(),
		EventsCaughtUp:   c.caughtUp.Load(),
		Lookups:          c.lookups.Load(),
	}
}
