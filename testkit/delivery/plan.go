package delivery

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// Plan describes how a list of messages is delivered. The zero Plan delivers every
// message once, in order, with no delay.
type Plan struct {
	// Seed makes the schedule repeatable: the same Plan gives the same schedule.
	Seed uint64
	// DuplicateRate is the probability that a delivery is followed by one more copy
	// of the same message (so copies form a geometric series), in [0, 1).
	DuplicateRate float64
	// MaxCopies caps the copies of one message made by DuplicateRate (not counting
	// replays and retries); 0 means 5.
	MaxCopies int
	// ReorderWindow is how far deliveries may move from their place in the list:
	// message i may be delivered before messages up to i+ReorderWindow, and its
	// first copy always comes after the first copies of messages 0..i-ReorderWindow-1.
	ReorderWindow int
	// ReplayRate is the probability that, after a delivery, the last few deliveries
	// are replayed, as when a consumer group rewinds to an older offset.
	ReplayRate float64
	// ReplayLength caps the length of a replayed range; 0 means 3.
	ReplayLength int
	// MaxDelay: each delivery waits a random time in [0, MaxDelay) before its
	// handler runs. Delays reorder deliveries further between consumers.
	MaxDelay time.Duration
	// RaceRate is the probability that a delivery is given to two consumers at the
	// same instant (needs at least two consumers).
	RaceRate float64
	// MaxAttempts caps how many times a message's handler may fail before Run
	// gives up on it (it is then listed in Report.Failed); 0 means 10.
	MaxAttempts int
}

// Kind says why a delivery is in the schedule.
type Kind uint8

const (
	// Original is the first copy of a message.
	Original Kind = iota
	// Duplicate is an extra copy made by DuplicateRate.
	Duplicate
	// Replay is a copy made by replaying a range of earlier deliveries.
	Replay
	// Retry is a redelivery after a handler error (made by Run, not in schedules).
	Retry
)

func (k Kind) String() string {
	switch k {
	case Original:
		return "original"
	case Duplicate:
		return "duplicate"
	case Replay:
		return "replay"
	case Retry:
		return "retry"
	default:
		return "unknown"
	}
}

// Delivery is one entry of a schedule: deliver message Index.
type Delivery struct {
	// Index is the message's index in the list given to Schedule or Run.
	Index int
	Kind  Kind
	// Delay is how long the consumer waits before handling it.
	Delay time.Duration
	// Race is true when this delivery goes to two consumers at the same instant.
	Race bool
}

// Schedule returns the deliveries of n messages under p, in the order they are
// handed to consumers. Every index in 0..n-1 appears at least once. It is a pure
// function of p and n.
func (p Plan) Schedule(n int) []Delivery {
	if n <= 0 {
		return nil
	}
	// One generator, drawn from by each step in turn: the same p and n give the same
	// draws, and so the same schedule.
	rng := rand.New(rand.NewPCG(p.Seed, p.Seed^0x6a09e667f3bcc909))
	out := p.withReplays(rng, p.reorderedCopies(rng, n))
	p.addDelaysAndRaces(rng, out)
	return out
}

// reorderedCopies returns the originals and duplicates of n messages, each moved at
// most ReorderWindow places from its message's place. After reordering, a message's
// first copy is its original.
func (p Plan) reorderedCopies(rng *rand.Rand, n int) []Delivery {
	type keyed struct {
		d   Delivery
		key float64
	}
	// A key drawn from [i, i+W+1) lets message i come after messages up to i+W,
	// and never before a message W+1 or more places ahead.
	window := float64(max(p.ReorderWindow, 0))
	if window > 0 {
		window++
	}
	entries := make([]keyed, 0, n)
	for i := range n {
		for range p.maxCopies() {
			key := float64(i)
			if window > 0 {
				key += rng.Float64() * window
			}
			entries = append(entries, keyed{d: Delivery{Index: i}, key: key})
			if rng.Float64() >= p.DuplicateRate {
				break
			}
		}
	}
	slices.SortStableFunc(entries, func(a, b keyed) int { return cmp.Compare(a.key, b.key) })

	copies := make([]Delivery, len(entries))
	seen := make([]bool, n)
	for i, e := range entries {
		e.d.Kind = Duplicate
		if !seen[e.d.Index] {
			seen[e.d.Index] = true
			e.d.Kind = Original
		}
		copies[i] = e.d
	}
	return copies
}

// withReplays follows each delivery, with probability ReplayRate, by a replay of the
// last few deliveries (up to ReplayLength), replays among them left out.
func (p Plan) withReplays(rng *rand.Rand, copies []Delivery) []Delivery {
	out := make([]Delivery, 0, len(copies))
	for _, d := range copies {
		out = append(out, d)
		if p.ReplayRate > 0 && rng.Float64() < p.ReplayRate {
			length := 1 + rng.IntN(p.replayLength())
			from := max(len(out)-length, 0)
			for _, r := range slices.Clone(out[from:]) {
				if r.Kind == Replay {
					continue
				}
				r.Kind = Replay
				out = append(out, r)
			}
		}
	}
	return out
}

// addDelaysAndRaces draws each delivery's delay (below MaxDelay) and whether it goes
// to two consumers at once (RaceRate).
func (p Plan) addDelaysAndRaces(rng *rand.Rand, out []Delivery) {
	for i := range out {
		if p.MaxDelay > 0 {
			out[i].Delay = time.Duration(rng.Int64N(int64(p.MaxDelay)))
		}
		if p.RaceRate > 0 {
			out[i].Race = rng.Float64() < p.RaceRate
		}
	}
}

// maxCopies is MaxCopies, 5 when unset.
func (p Plan) maxCopies() int {
	if p.MaxCopies <= 0 {
		return 5
	}
	return p.MaxCopies
}

// replayLength is ReplayLength, 3 when unset.
func (p Plan) replayLength() int {
	if p.ReplayLength <= 0 {
		return 3
	}
	return p.ReplayLength
}
