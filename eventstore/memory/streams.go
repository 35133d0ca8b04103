package memory

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/idemkit/idem/eventstore"
)

var _ eventstore.StreamLister = (*Store)(nil)

// Streams yields the streams that pass filter, ordered by name, as they were when
// the listing began; see eventstore.StreamLister.
func (s *Store) Streams(ctx context.Context, filter eventstore.StreamFilter) iter.Seq2[eventstore.StreamInfo, error] {
	return func(yield func(eventstore.StreamInfo, error) bool) {
		fail := func(err error) { yield(eventstore.StreamInfo{}, fmt.Errorf("list streams: %w", err)) }
		if err := ctx.Err(); err != nil {
			fail(err)
			return
		}
		infos, closed := s.streamInfos(filter)
		if closed {
			fail(eventstore.ErrClosed)
			return
		}
		slices.SortFunc(infos, func(a, b eventstore.StreamInfo) int { return cmp.Compare(a.Name, b.Name) })
		for _, info := range infos {
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

// streamInfos describes the streams that pass filter, in no order.
func (s *Store) streamInfos(filter eventstore.StreamFilter) ([]eventstore.StreamInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, true
	}
	var infos []eventstore.StreamInfo
	for name, indices := range s.streams {
		if !filter.Matches(name) || len(indices) == 0 {
			continue
		}
		e := s.log[indices[len(indices)-1]]
		infos = append(infos, eventstore.StreamInfo{Name: name, Events: uint64(len(indices)), LastRevision: e.Revision,
			LastPosition: e.Position, LastWrite: e.RecordedAt})
	}
	return infos, false
}
