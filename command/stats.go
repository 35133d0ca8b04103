package command

import "sync/atomic"

// Stats is a snapshot of a Handler's counters (G12): plain numbers, no metrics stack.
// Export them to whatever the application uses.
//
// Every Handle call counts in exactly one outcome field (Applied, DuplicatesByID,
// DuplicatesByKey, KeyReused, KeyClaimed, Rejected, NoOps, Invalid,
// RetriesExhausted, Panicked, Failed), the same outcome idem.command.handled
// records as idem.outcome; the other fields count work inside those calls.
type Stats struct {
	// Handled counts Handle calls that passed validation, as they start: once
	// they have all returned, every outcome but Invalid adds up to it.
	Handled uint64
	// Applied counts commands answered as new, their events written.
	Applied uint64
	// DuplicatesByID counts commands answered as duplicates from the processed
	// set (G3, G4). A redelivered rejected command counts as Rejected.
	DuplicatesByID uint64
	// DuplicatesByKey counts commands the decider reported as AlreadyDone (G5).
	DuplicatesByKey uint64
	// KeyReused counts command ids sent again with another payload.
	KeyReused uint64
	// KeyClaimed counts commands refused because a business key they claim
	// belongs to another aggregate (reservation.ErrClaimed).
	KeyClaimed uint64
	// Rejected counts domain rejections, including redeliveries of a rejected
	// command (answered with a *RejectedError whose Duplicate is true).
	Rejected uint64
	// NoOps counts commands that decided no events (a redelivery of one recorded
	// with WithRecordedNoOps is answered, and counted, as a duplicate).
	NoOps uint64
	// Invalid counts commands refused by validation.
	Invalid uint64
	// RetriesExhausted counts commands given up after the retry budget.
	RetriesExhausted uint64
	// Panicked counts commands whose decider panicked (idem.ErrPanicked).
	Panicked uint64
	// Failed counts commands that failed otherwise: a store error, a cancelled
	// context, a corrupt stream.
	Failed uint64
	// ConflictsRetried counts appends that met a conflict (or an unknown outcome)
	// and were retried.
	ConflictsRetried uint64
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
	handled, applied, dupByID, dupByKey, keyReused, keyClaimed, rejected, noops, invalid,
	exhausted, panicked, failed atomic.Uint64
	conflicts, cacheHits, loads, snapshots, catchUps, caughtUp, lookups atomic.Uint64
}

// count counts one Handle call of outcome (see outcomeOf).
func (c *counters) count(outcome string) { c.outcome(outcome).Add(1) }

// outcome is the counter of outcome.
func (c *counters) outcome(outcome string) *atomic.Uint64 {
	switch outcome {
	case OutcomeApplied:
		return &c.applied
	case OutcomeDuplicate:
		return &c.dupByID
	case OutcomeDuplicateByKey:
		return &c.dupByKey
	case OutcomeKeyReused:
		return &c.keyReused
	case OutcomeKeyClaimed:
		return &c.keyClaimed
	case OutcomeRejected:
		return &c.rejected
	case OutcomeNoOp:
		return &c.noops
	case OutcomeInvalid:
		return &c.invalid
	case OutcomeRetriesExhausted:
		return &c.exhausted
	case OutcomePanicked:
		return &c.panicked
	}
	return &c.failed
}

func (c *counters) snapshot() Stats {
	return Stats{
		Handled:          c.handled.Load(),
		Applied:          c.applied.Load(),
		DuplicatesByID:   c.dupByID.Load(),
		DuplicatesByKey:  c.dupByKey.Load(),
		KeyReused:        c.keyReused.Load(),
		KeyClaimed:       c.keyClaimed.Load(),
		Rejected:         c.rejected.Load(),
		NoOps:            c.noops.Load(),
		Invalid:          c.invalid.Load(),
		RetriesExhausted: c.exhausted.Load(),
		Panicked:         c.panicked.Load(),
		Failed:           c.failed.Load(),
		ConflictsRetried: c.conflicts.Load(),
		CacheHits:        c.cacheHits.Load(),
		Loads:            c.loads.Load(),
		SnapshotsSaved:   c.snapshots.Load(),
		CatchUps:         c.catchUps.Load(),
		EventsCaughtUp:   c.caughtUp.Load(),
		Lookups:          c.lookups.Load(),
	}
}
