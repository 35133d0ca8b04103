package sqlite

import "sync"

// commitSignal wakes subscriptions of this process when the writer commits: a
// channel closed and replaced on every commit (the zero value is ready) that wrote events. A subscription
// takes the channel before it reads, so a commit after its read always wakes it.
type commitSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns the channel the next commit closes.
func (c *commitSignal) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// broadcast wakes everyone waiting.
func (c *commitSignal) broadcast() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil // the next wait makes a new one
	}
}
