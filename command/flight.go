package command

import (
	"context"
	"slices"
	"sync"
)

// flights coalesces concurrent Handle calls of one command (same stream, id and
// fingerprint) in one Handler: the first runs, the others wait for its result and
// answer as duplicates. Without it, two calls that load the same revision append the
// same derived ids, and the store's idempotent append (G2) acknowledges both: the
// events are written once, but both callers would be told they applied it.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	res  Result
	err  error
}

// join returns the running flight for key (leader false), or starts one (leader
// true); the leader must call land.
func (f *flights) join(key string) (*flight, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok {
		return fl, false
	}
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	return fl, true
}

func (f *flights) land(key string, fl *flight, res Result, err error) {
	fl.res, fl.err = res, err
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	close(fl.done)
}

// wait waits for fl; ok is false when ctx ended first.
func (fl *flight) wait(ctx context.Context) bool {
	select {
	case <-fl.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// asDuplicate is the leader's successful result as a follower sees it.
func asDuplicate(r Result) Result {
	r.Events = slices.Clone(r.Events)
	if !r.Duplicate {
		r.Duplicate, r.DuplicateBy = true, ByCommandID
	}
	return r
}
