package sqlite

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

var _ eventstore.StreamLister = (*Store)(nil)

// streamsPageSize is how many streams one listing query returns.
const streamsPageSize = 500

// streamsQuery lists a page of streams after a cursor, within a range of names.
// The inner GROUP BY walks the UNIQUE (stream, revision) index in order, reading
// only the index (a covering scan: count and last revision per stream, no table
// row), and stops after a page of streams; the join then fetches each stream's
// last row by the same index, one seek per stream, for its position and time.
// The plan is checked by TestStreamsQueryPlan. ?1 is the cursor (the last name
// returned, "" at first), ?2 the prefix, ?3 the first name past the prefix (NULL:
// no bound), ?4 the page size.
const streamsQuery = `SELECT e.stream, s.n, e.revision, e.position, e.recorded_at
	FROM (SELECT stream, count(*) AS n, max(revision) AS last FROM events
		WHERE stream > ?1 AND stream >= ?2 AND (?3 IS NULL OR stream < ?3)
		GROUP BY stream ORDER BY stream LIMIT ?4) AS s
	JOIN events AS e ON e.stream = s.stream AND e.revision = s.last
	ORDER BY s.stream`

// Streams yields the streams that pass filter, ordered by name, a page of a few
// hundred at a time (no connection is held while the caller's loop body runs); see
// eventstore.StreamLister. A row whose stream, revision, position or time is not
// what this package writes fails the listing with a *CorruptEventError.
func (s *Store) Streams(ctx context.Context, filter eventstore.StreamFilter) iter.Seq2[eventstore.StreamInfo, error] {
	return func(yield func(eventstore.StreamInfo, error) bool) {
		fail := func(err error) { yield(eventstore.StreamInfo{}, fmt.Errorf("list streams: %w", err)) }
		var upper any
		if u, ok := prefixEnd(filter.Prefix); ok {
			upper = u
		}
		cursor := ""
		for {
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			if s.isClosed.Load() {
				fail(eventstore.ErrClosed)
				return
			}
			page, err := s.streamsPage(ctx, cursor, filter.Prefix, upper)
			if err != nil {
				fail(err)
				return
			}
			for _, info := range page {
				if !yield(info, nil) {
					return
				}
			}
			if len(page) < streamsPageSize {
				return
			}
			cursor = page[len(page)-1].Name
		}
	}
}

// streamsPage reads one page of streams, whole, and closes its rows.
func (s *Store) streamsPage(ctx context.Context, cursor, prefix string, upper any) ([]eventstore.StreamInfo, error) {
	rows, err := s.rdb.QueryContext(context.WithoutCancel(ctx), streamsQuery, cursor, prefix, upper, streamsPageSize)
	if err != nil {
		return nil, s.readError(ctx, "list streams", err)
	}
	defer rows.Close()
	var page []eventstore.StreamInfo
	for rows.Next() {
		var c [5]any
		if err := rows.Scan(&c[0], &c[1], &c[2], &c[3], &c[4]); err != nil {
			return nil, s.readError(ctx, "list streams", err)
		}
		info, err := decodeStreamInfo(c)
		if err != nil {
			return nil, err
		}
		page = append(page, info)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(ctx, "list streams", err)
	}
	return page, nil
}

// decodeStreamInfo decodes a row of streamsQuery: stream, count, last revision,
// its position and recorded_at, each checked as decodeEvent checks them.
func decodeStreamInfo(c [5]any) (eventstore.StreamInfo, error) {
	pos, _ := c[3].(int64)
	name, ok := streamName(c[0])
	corrupt := func(problem string) error {
		return &CorruptEventError{Position: pos, Stream: name, Revision: storedRevision(c[2]), Problem: problem}
	}
	if !ok {
		return eventstore.StreamInfo{}, corrupt("stream is " + describe(c[0]) + ", not a name")
	}
	n, _ := c[1].(int64)
	rev, ok := c[2].(int64)
	if !ok || rev < 0 {
		return eventstore.StreamInfo{}, corrupt("revision is " + describe(c[2]) + ", not a non-negative integer")
	}
	if pos <= 0 {
		return eventstore.StreamInfo{}, corrupt("position is " + describe(c[3]) + ", not a positive integer")
	}
	at, ok := c[4].(int64)
	if !ok {
		return eventstore.StreamInfo{}, corrupt("recorded_at is " + describe(c[4]) + ", not an integer")
	}
	return eventstore.StreamInfo{Name: name, Events: uint64(n), LastRevision: uint64(rev),
		LastPosition: backend.SequencePosition(uint64(pos)), LastWrite: time.Unix(0, at).UTC()}, nil
}

// prefixEnd returns the least string greater than every string that starts with
// prefix (compared byte-wise, as SQLite compares TEXT), or false when there is
// none (an empty prefix, or one of 0xff bytes only).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
