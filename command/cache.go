package command

import (
	"container/list"
	"sync"
)

// aggregateCache is a small LRU of loaded aggregates, keyed by stream.
type aggregateCache[S any] struct {
	mu    sync.Mutex
	size  int
	items map[string]*list.Element
	lru   *list.List // of *loaded[S]; front is most recent
}

func newAggregateCache[S any](size int) *aggregateCache[S] {
	if size <= 0 {
		return nil
	}
	return &aggregateCache[S]{size: size, items: make(map[string]*list.Element, size), lru: list.New()}
}

func (c *aggregateCache[S]) get(stream string) *loaded[S] {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[stream]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*loaded[S])
}

func (c *aggregateCache[S]) put(a *loaded[S]) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[a.stream]; ok {
		el.Value = a
		c.lru.MoveToFront(el)
		return
	}
	c.items[a.stream] = c.lru.PushFront(a)
	for c.lru.Len() > c.size {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.items, old.Value.(*loaded[S]).stream)
	}
}

// evict drops the entry for stream if it is still a.
func (c *aggregateCache[S]) evict(stream string, a *loaded[S]) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[stream]; ok && (a == nil || el.Value.(*loaded[S]) == a) {
		c.lru.Remove(el)
		delete(c.items, stream)
	}
}
