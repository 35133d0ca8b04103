package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// pageSize is the number of events asked for per read call.
const pageSize = 512

// ReadStream yields the events of stream from revision from, inclusive, forwards or
// with eventstore.Backwards() down to 0; see eventstore.Store. A stream that does not
// exist, or was soft-deleted, yields eventstore.ErrStreamNotFound; a tombstoned one
// eventstore.ErrStreamDeleted.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	o := backend.ResolveReadOptions(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		fail := func(err error) { yield(eventstore.RecordedEvent{}, backend.ReadStreamError(stream, err)) }
		if err := backend.CheckReadStream(ctx, stream, o); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		next, remaining := from, o.Limit
		for {
			count := pageSize
			if remaining > 0 {
				count = min(count, remaining)
			}
			var start esdbclient.StreamPosition = esdbclient.Revision(next)
			dir := esdbclient.Forwards
			if o.Backwards {
				dir = esdbclient.Backwards
				if next == eventstore.StreamEnd {
					start = esdbclient.End{}
				}
			}
			var rs *esdbclient.ReadStream
			err := s.withClient(func(c *esdbclient.Client) error {
				var err error
				rs, err = c.ReadStream(ctx, stream, esdbclient.ReadStreamOptions{Direction: dir, From: start}, uint64(count))
				return err
			})
			if err != nil {
				fail(s.errClosedOr(mapError(ctx, err)))
				return
			}
			n, done := 0, false
			for !done {
				ev, err := rs.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err == nil {
					err = ctx.Err() // buffered events must not outlive a cancelled context
				}
				if err != nil {
					rs.Close()
					fail(s.errClosedOr(mapError(ctx, err)))
					return
				}
				e := toRecorded(ev.OriginalEvent())
				n++
				if !yield(e, nil) {
					rs.Close()
					return
				}
				if o.Backwards {
					done = e.Revision == 0
					next = e.Revision - 1
				} else {
					next = e.Revision + 1
				}
				if remaining > 0 {
					remaining--
					done = done || remaining == 0
				}
			}
			rs.Close()
			if done || n < count {
				return
			}
		}
	}
}

// ReadAll yields the user events of $all whose position is after the given one,
// filtered and limited by opts; see eventstore.Store. The server's forward read is
// inclusive, so the event at after itself is skipped. v4.2.0's ReadAll sends no
// filter: system events, stream prefixes and event types are filtered here.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	o := backend.ResolveReadOptions(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		fail := func(err error) { yield(eventstore.RecordedEvent{}, backend.ReadAllError(after, err)) }
		if err := backend.CheckReadAll(ctx, after, o); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		cursor, seen := after, after != eventstore.Start()
		yielded := 0
		for {
			var from esdbclient.AllPosition = esdbclient.Start{}
			if seen {
				from = esdbclient.Position{Commit: cursor.Commit, Prepare: cursor.Prepare}
			}
			var rs *esdbclient.ReadStream
			err := s.withClient(func(c *esdbclient.Client) error {
				var err error
				rs, err = c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Forwards, From: from}, pageSize)
				return err
			})
			if err != nil {
				fail(s.errClosedOr(mapError(ctx, err)))
				return
			}
			n := 0
			for {
				ev, err := rs.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err == nil {
					err = ctx.Err() // buffered events must not outlive a cancelled context
				}
				if err != nil {
					rs.Close()
					fail(s.errClosedOr(mapError(ctx, err)))
					return
				}
				n++
				raw := ev.OriginalEvent()
				pos := eventstore.Position{Commit: raw.Position.Commit, Prepare: raw.Position.Prepare}
				if seen && pos.Compare(cursor) <= 0 {
					continue // the inclusive start, or anything not after it
				}
				cursor, seen = pos, true
				if isSystem(raw.StreamID, raw.EventType) || !o.Matches(raw.StreamID, raw.EventType) {
					continue
				}
				if !yield(toRecorded(raw), nil) {
					rs.Close()
					return
				}
				yielded++
				if o.Limit > 0 && yielded >= o.Limit {
					rs.Close()
					return
				}
			}
			rs.Close()
			if n < pageSize {
				return
			}
		}
	}
}

// Head returns the position of the last user event in $all, or eventstore.Start() if
// there is none; system events are skipped.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var from esdbclient.AllPosition = esdbclient.End{}
	for {
		var rs *esdbclient.ReadStream
		err := s.withClient(func(c *esdbclient.Client) error {
			var err error
			rs, err = c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: from}, 64)
			return err
		})
		if err != nil {
			return eventstore.Start(), headError(s.errClosedOr(mapError(ctx, err)))
		}
		n := 0
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rs.Close()
				return eventstore.Start(), headError(s.errClosedOr(mapError(ctx, err)))
			}
			n++
			raw := ev.OriginalEvent()
			if !isSystem(raw.StreamID, raw.EventType) {
				rs.Close()
				return eventstore.Position{Commit: raw.Position.Commit, Prepare: raw.Position.Prepare}, nil
			}
			// Backwards from a position is exclusive: the next page starts before it.
			from = raw.Position
		}
		rs.Close()
		if n < 64 {
			return eventstore.Start(), nil
		}
	}
}

func headError(err error) error { return fmt.Errorf("read head of all: %w", err) }

// isSystem reports whether an event is a system event: a $-stream (system streams and
// metastreams) or a $-type ($metadata, $streamDeleted tombstones in user streams).
func isSystem(stream, eventType string) bool {
	return strings.HasPrefix(stream, "$") || strings.HasPrefix(eventType, "$")
}

// toRecorded converts a client event. Empty data and metadata come back as nil: the
// wire does not tell nil from empty.
func toRecorded(e *esdbclient.RecordedEvent) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID:         e.EventID,
		Stream:     e.StreamID,
		Revision:   e.EventNumber,
		Position:   eventstore.Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare},
		Type:       e.EventType,
		Data:       nilIfEmpty(e.Data),
		Metadata:   nilIfEmpty(e.UserMetadata),
		RecordedAt: e.CreatedDate,
	}
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
