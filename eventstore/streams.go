package eventstore

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"
)

// StreamInfo describes one stream of a store: its name, how many events it holds
// and its last event.
type StreamInfo struct {
	// Name is the stream's name.
	Name string
	// Events is the number of events in the stream.
	Events uint64
	// LastRevision is the revision of its last event (Events-1 in a store that
	// never deletes).
	LastRevision uint64
	// LastPosition is the global position of its last event.
	LastPosition Position
	// LastWrite is when its last event was recorded.
	LastWrite time.Time
}

// StreamFilter selects the streams a listing yields.
type StreamFilter struct {
	// Prefix keeps the streams whose name starts with it (all when empty). A
	// category is the prefix "category-": categories never hold '-'.
	Prefix string
}

// Matches reports whether stream passes the filter.
func (f StreamFilter) Matches(stream string) bool { return strings.HasPrefix(stream, f.Prefix) }

// StreamLister is implemented by stores that list their streams without reading
// every event: SQLite (one GROUP BY over its stream index) and memory. The
// listing is for operators' tools, not for the hot path.
type StreamLister interface {
	// Streams yields the streams that pass filter, ordered by name (byte-wise),
	// each as it was when the listing reached it. It yields a single error and
	// stops if the store fails (ErrClosed, the context's error, ErrCorrupt...).
	Streams(ctx context.Context, filter StreamFilter) iter.Seq2[StreamInfo, error]
}

// ListStreams yields the streams of store that pass filter, ordered by name: with
// the store's StreamLister when it has one, otherwise by reading the whole global
// log once (EventStoreDB), which costs a read of every event and memory for one
// StreamInfo per stream.
func ListStreams(ctx context.Context, store Store, filter StreamFilter) iter.Seq2[StreamInfo, error] {
	if l, ok := store.(StreamLister); ok {
		return l.Streams(ctx, filter)
	}
	return ScanStreams(ctx, store, filter)
}

// ScanStreams is ListStreams by reading the global log (ReadAll), for stores that
// are not a StreamLister. It is exported so that the two can be compared.
func ScanStreams(ctx context.Context, store Store, filter StreamFilter) iter.Seq2[StreamInfo, error] {
	return func(yield func(StreamInfo, error) bool) {
		var opts []ReadOption
		if filter.Prefix != "" {
			opts = append(opts, StreamPrefix(filter.Prefix))
		}
		seen := map[string]*StreamInfo{}
		for e, err := range store.ReadAll(ctx, Start(), opts...) {
			if err != nil {
				yield(StreamInfo{}, fmt.Errorf("list streams: %w", err))
				return
			}
			s := seen[e.Stream]
			if s == nil {
				s = &StreamInfo{Name: e.Stream}
				seen[e.Stream] = s
			}
			s.Events++
			s.LastRevision, s.LastPosition, s.LastWrite = e.Revision, e.Position, e.RecordedAt
		}
		infos := slices.SortedFunc(maps.Values(seen), func(a, b *StreamInfo) int { return cmp.Compare(a.Name, b.Name) })
		for _, s := range infos {
			if !yield(*s, nil) {
				return
			}
		}
	}
}
