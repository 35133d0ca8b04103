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
		if err := backend.CheckReadStream(ctx, stream, o); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		cur := streamCursor{next: from, remaining: o.Limit, backwards: o.Backwards}
		for {
			count := cur.pageSize()
			open := func(c *esdbclient.Client) (*esdbclient.ReadStream, error) {
				return c.ReadStream(ctx, stream, cur.readOptions(), uint64(count))
			}
			n, stopped, err := s.readPage(ctx, open, func(ev *esdbclient.ResolvedEvent) bool {
				e := toRecorded(ev.OriginalEvent())
				return yield(e, nil) && cur.advance(e.Revision) // false: the caller stopped, or the read is complete
			})
			if err != nil {
				yield(eventstore.RecordedEvent{}, backend.ReadStreamError(stream, err))
				return
			}
			if stopped || n < count {
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
		if err := backend.CheckReadAll(ctx, after, o); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		cur := newAllCursor(after)
		yielded := 0
		for {
			open := func(c *esdbclient.Client) (*esdbclient.ReadStream, error) {
				return c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Forwards, From: cur.from()}, pageSize)
			}
			n, stopped, err := s.readPage(ctx, open, func(ev *esdbclient.ResolvedEvent) bool {
				raw := ev.OriginalEvent()
				if !cur.moveTo(position(raw.Position)) || !wanted(raw, o) {
					return true // the inclusive start (or anything not after it), or filtered out
				}
				if !yield(toRecorded(raw), nil) {
					return false
				}
				yielded++
				return o.Limit <= 0 || yielded < o.Limit
			})
			if err != nil {
				yield(eventstore.RecordedEvent{}, backend.ReadAllError(after, err))
				return
			}
			if stopped || n < pageSize {
				return
			}
		}
	}
}

// readPage reads one page: it opens the read with open, through the current client,
// and hands each event to next until next returns false (stopped). n counts the
// events received. err, mapped to idem's errors (eventstore.ErrClosed once the store
// is closed), is why the page could not be read to its end.
func (s *Store) readPage(ctx context.Context, open func(*esdbclient.Client) (*esdbclient.ReadStream, error), next func(*esdbclient.ResolvedEvent) bool) (n int, stopped bool, err error) {
	rs, err := s.openRead(open)
	if err != nil {
		return 0, false, s.errClosedOr(mapError(ctx, err))
	}
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, false, nil
		}
		if err == nil {
			err = ctx.Err() // buffered events must not outlive a cancelled context
		}
		if err != nil {
			return n, false, s.errClosedOr(mapError(ctx, err))
		}
		n++
		if !next(ev) {
			return n, true, nil
		}
	}
}

// openRead opens a read with open, through the current client.
func (s *Store) openRead(open func(*esdbclient.Client) (*esdbclient.ReadStream, error)) (*esdbclient.ReadStream, error) {
	var rs *esdbclient.ReadStream
	err := s.withClient(func(c *esdbclient.Client) error {
		var err error
		rs, err = open(c)
		return err
	})
	return rs, err
}

// Head returns the position of the last user event in $all, or eventstore.Start() if
// there is none; system events are skipped.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var from esdbclient.AllPosition = esdbclient.End{}
	for {
		rs, err := s.openRead(func(c *esdbclient.Client) (*esdbclient.ReadStream, error) {
			return c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: from}, 64)
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
				return position(raw.Position), nil
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

// wanted reports whether a read or subscription of $all with options o delivers e:
// a user event that passes o's filters.
func wanted(e *esdbclient.RecordedEvent, o backend.ReadOptions) bool {
	return !isSystem(e.StreamID, e.EventType) && o.Matches(e.StreamID, e.EventType)
}

// toRecorded converts a client event. Empty data and metadata come back as nil: the
// wire does not tell nil from empty.
func toRecorded(e *esdbclient.RecordedEvent) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID:         e.EventID,
		Stream:     e.StreamID,
		Revision:   e.EventNumber,
		Position:   position(e.Position),
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
