package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"unicode/utf16"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// Append writes events to stream if it satisfies expected; see eventstore.Store.
//
// Each event goes with its own id, so a retry after a lost acknowledgement is
// recognised by the server (G2): with Exact and NoStream it answers with the
// original append's revision and writes nothing. Oversize appends are refused before
// sending. AppendResult.Position is the position of the append's last event, read
// back from the stream: the server only reports the position of the transaction.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := backend.ValidateAppend(stream, expected, events, s.opts.maxAppendSize); err != nil {
		return eventstore.AppendResult{}, err
	}
	if size := serverSize(events); size > s.opts.serverMaxAppendSize {
		// The server counts each type twice (UTF-16): refuse here what it would refuse.
		return eventstore.AppendResult{}, backend.AppendError(stream, expected,
			&eventstore.AppendTooLargeError{Size: size, Limit: s.opts.serverMaxAppendSize})
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, backend.AppendError(stream, expected, err)
	}
	data := make([]esdbclient.EventData, len(events))
	for i, e := range events {
		ct := esdbclient.ContentTypeBinary
		if json.Valid(e.Data) {
			ct = esdbclient.ContentTypeJson
		}
		data[i] = esdbclient.EventData{
			EventID:     e.ID, // never left for the client to invent (G2)
			EventType:   e.Type,
			ContentType: ct,
			Data:        e.Data,
			Metadata:    e.Metadata,
		}
	}
	var wr *esdbclient.WriteResult
	var client *esdbclient.Client
	err := s.withClient(func(c *esdbclient.Client) error {
		client = c
		var err error
		wr, err = c.AppendToStream(ctx, stream, esdbclient.AppendToStreamOptions{ExpectedRevision: toClientRevision(expected)}, data...)
		return err
	})
	if err != nil {
		return eventstore.AppendResult{}, s.appendError(ctx, client, stream, expected, err)
	}
	res := eventstore.AppendResult{
		Revision: wr.NextExpectedVersion,
		Position: eventstore.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition},
	}
	if pos, ok := s.positionOf(ctx, stream, res.Revision); ok {
		res.Position = pos
	}
	return res, nil
}

// positionOf reads the position of the event at revision of stream. ok is false if
// it cannot be read (the append then reports the transaction's position).
func (s *Store) positionOf(ctx context.Context, stream string, revision uint64) (eventstore.Position, bool) {
	var pos eventstore.Position
	err := s.withClient(func(c *esdbclient.Client) error {
		rs, err := c.ReadStream(ctx, stream, esdbclient.ReadStreamOptions{
			Direction: esdbclient.Backwards, From: esdbclient.Revision(revision),
		}, 1)
		if err != nil {
			return err
		}
		defer rs.Close()
		ev, err := rs.Recv()
		if err != nil {
			return err
		}
		if e := ev.OriginalEvent(); e != nil && e.EventNumber == revision {
			pos = eventstore.Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare}
			return nil
		}
		return errNoEvent
	})
	if err != nil {
		s.opts.logger.LogAttrs(ctx, slog.LevelWarn, "eventstoredb: cannot read back the position of an appended event",
			slog.String("stream", stream), slog.Uint64("revision", revision), slog.Any("error", err))
		return eventstore.Position{}, false
	}
	return pos, true
}

// appendError maps a failed append to idem's errors.
func (s *Store) appendError(ctx context.Context, c *esdbclient.Client, stream string, expected eventstore.ExpectedRevision, err error) error {
	if isCode(err, esdbclient.ErrorCodeWrongExpectedVersion) {
		actual, ok := parseActual(err)
		if !ok {
			actual = s.readActual(ctx, stream)
		}
		return &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: actual}
	}
	if m := maxAppendLimit.FindStringSubmatch(err.Error()); m != nil {
		limit, _ := strconv.Atoi(m[1])
		return backend.AppendError(stream, expected, &eventstore.AppendTooLargeError{Size: serverSizeUnknown, Limit: limit})
	}
	return backend.AppendError(stream, expected, s.errClosedOr(mapError(ctx, err)))
}

// readActual reads the stream's state when a WrongExpectedVersion message could not
// be parsed; it returns the zero ExpectedRevision when that fails too.
func (s *Store) readActual(ctx context.Context, stream string) eventstore.ExpectedRevision {
	var actual eventstore.ExpectedRevision
	_ = s.withClient(func(c *esdbclient.Client) error {
		rs, err := c.ReadStream(ctx, stream, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
		if err != nil {
			return err
		}
		defer rs.Close()
		ev, err := rs.Recv()
		switch {
		case isCode(err, esdbclient.ErrorCodeResourceNotFound):
			actual = eventstore.NoStream()
		case err == nil && ev.OriginalEvent() != nil:
			actual = eventstore.Exact(ev.OriginalEvent().EventNumber)
		}
		return err
	})
	return actual
}

// errNoEvent: a read-back found no event at the revision just appended.
var errNoEvent = errors.New("no event at the appended revision")

// serverSizeUnknown is the Size of an AppendTooLargeError the server reported.
const serverSizeUnknown = -1

// serverSize counts an append as the server does against its MaxAppendSize
// (KurrentDB Event.SizeOnDisk): data + metadata + 2 × the type's UTF-16 length.
func serverSize(events []eventstore.EventData) int {
	n := 0
	for _, e := range events {
		n += len(e.Data) + len(e.Metadata) + 2*len(utf16.Encode([]rune(e.Type)))
	}
	return n
}

// toClientRevision maps idem's expected revision to the client's.
func toClientRevision(e eventstore.ExpectedRevision) esdbclient.ExpectedRevision {
	switch e.Kind() {
	case eventstore.KindNoStream:
		return esdbclient.NoStream{}
	case eventstore.KindStreamExists:
		return esdbclient.StreamExists{}
	case eventstore.KindExact:
		n, _ := e.Revision()
		return esdbclient.Revision(n)
	default:
		return esdbclient.Any{}
	}
}
