package brokers

import (
	"maps"
	"sync"
	"sync/atomic"
)

// InboxStats are an inbox's counters since it was made (G12).
type InboxStats struct {
	// Processed counts messages whose outcome became known: each was then
	// acknowledged. Applied, NoOps, Duplicates and DeadLettered add up to it.
	Processed uint64
	// Applied counts commands whose events this delivery wrote.
	Applied uint64
	// NoOps counts commands that decided no events.
	NoOps uint64
	// Duplicates counts deliveries recognised as already handled: by command id
	// (G3, G4) or business key (G5). Nothing was written.
	Duplicates uint64
	// DeadLettered counts messages refused for good and sent to the dead-letter
	// destination; ByReason splits them by Reason.
	DeadLettered uint64
	ByReason     map[Reason]uint64
	// Retries counts attempts made again after an unknown outcome; DeadLetterRetries
	// counts dead-letter publications tried again.
	Retries, DeadLetterRetries uint64
	// Abandoned counts messages left unacknowledged because the context ended
	// before their outcome was known: the broker delivers them again.
	Abandoned uint64
}

type inboxCounters struct {
	processed, applied, noOps, duplicates, deadLettered atomic.Uint64
	retries, dlRetries, abandoned                       atomic.Uint64

	mu       sync.Mutex
	byReason map[Reason]uint64
}

func (c *inboxCounters) deadLetter(r Reason) {
	c.deadLettered.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byReason == nil {
		c.byReason = map[Reason]uint64{}
	}
	c.byReason[r]++
}

func (c *inboxCounters) snapshot() InboxStats {
	c.mu.Lock()
	by := maps.Clone(c.byReason)
	c.mu.Unlock()
	if by == nil {
		by = map[Reason]uint64{}
	}
	return InboxStats{Processed: c.processed.Load(), Applied: c.applied.Load(), NoOps: c.noOps.Load(),
		Duplicates: c.duplicates.Load(), DeadLettered: c.deadLettered.Load(), ByReason: by,
		Retries: c.retries.Load(), DeadLetterRetries: c.dlRetries.Load(), Abandoned: c.abandoned.Load()}
}

// RelayStats are a relay's counters since it was made (G12).
type RelayStats struct {
	// Published counts events the broker acknowledged.
	Published uint64
	// BrokerDuplicates counts publications the broker acknowledged as duplicates
	// of a message id it had already stored (JetStream's dedupe window): a copy
	// absorbed before any consumer saw it.
	BrokerDuplicates uint64
	// Retries counts publications tried again after a failure.
	Retries uint64
}

type relayCounters struct{ published, duplicates, retries atomic.Uint64 }

func (c *relayCounters) snapshot() RelayStats {
	return RelayStats{Published: c.published.Load(), BrokerDuplicates: c.duplicates.Load(), Retries: c.retries.Load()}
}
