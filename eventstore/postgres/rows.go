package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// pageSize is how many events one read query returns. Reads page so that memory
// stays flat on a huge log and no connection is held while the caller's loop body
// runs: a page is read whole, the connection released, and only then yielded.
const pageSize = 500

// scanWindow bounds the positions one page query of the global log scans, so that
// a filter matching few events cannot make a single query hold a connection long.
const scanWindow = 64 * pageSize

// rawRow is one row as scanned: every column nullable, so that a row a tool
// damaged (a loosened column holding NULL) is reported as corrupt, not as a scan
// error without a position.
type rawRow struct {
	position pgtype.Int8
	stream   pgtype.Text
	revision pgtype.Int8
	id       pgtype.UUID
	typ      pgtype.Text
	data     []byte
	metadata []byte
	at       pgtype.Timestamptz
}

// queryEvents runs query (whose columns are eventColumns, or streamColumns when
// stream is not "") and decodes every row. A row that cannot be decoded fails the
// page with an error matching eventstore.ErrCorrupt that names its position.
func (s *Store) queryEvents(ctx context.Context, op, stream, query string, args ...any) ([]eventstore.RecordedEvent, error) {
	var page []eventstore.RecordedEvent
	err := s.withConn(ctx, op, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var r rawRow
		dest := []any{&r.position, &r.stream, &r.revision, &r.id, &r.typ, &r.data, &r.metadata, &r.at}
		if stream != "" {
			dest = append(dest[:1], dest[2:]...)
		}
		last := int64(0)
		for rows.Next() {
			r = rawRow{}
			if err := rows.Scan(dest...); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("event after position %d: cannot decode its columns: %v: %w", last, err, eventstore.ErrCorrupt)
			}
			if stream != "" {
				r.stream = pgtype.Text{String: stream, Valid: true}
			}
			e, err := decodeEvent(&r)
			if err != nil {
				return err
			}
			last = r.position.Int64
			page = append(page, e)
		}
		return rows.Err()
	})
	return page, err
}

// decodeEvent checks and converts one scanned row.
func decodeEvent(r *rawRow) (eventstore.RecordedEvent, error) {
	if !r.position.Valid || r.position.Int64 <= 0 {
		return eventstore.RecordedEvent{}, fmt.Errorf("event with position %s: position is not a positive integer: %w",
			describeInt8(r.position), eventstore.ErrCorrupt)
	}
	pos := r.position.Int64
	switch {
	case !r.stream.Valid || r.stream.String == "":
		return eventstore.RecordedEvent{}, corruptRow(pos, "stream is not a name")
	case !r.revision.Valid || r.revision.Int64 < 0:
		return eventstore.RecordedEvent{}, corruptRow(pos, "revision "+describeInt8(r.revision)+" is not a non-negative integer")
	case !r.id.Valid:
		return eventstore.RecordedEvent{}, corruptRow(pos, "id is NULL")
	case !r.typ.Valid || r.typ.String == "":
		return eventstore.RecordedEvent{}, corruptRow(pos, "type is not a name")
	case !r.at.Valid || r.at.InfinityModifier != pgtype.Finite:
		return eventstore.RecordedEvent{}, corruptRow(pos, "recorded_at is not a time")
	}
	return eventstore.RecordedEvent{
		ID:         uuid.UUID(r.id.Bytes),
		Stream:     r.stream.String,
		Revision:   uint64(r.revision.Int64),
		Position:   backend.SequencePosition(uint64(pos)),
		Type:       r.typ.String,
		Data:       r.data,
		Metadata:   r.metadata,
		RecordedAt: r.at.Time.UTC(),
	}, nil
}

func describeInt8(v pgtype.Int8) string {
	if !v.Valid {
		return "NULL"
	}
	return fmt.Sprint(v.Int64)
}

// streamExists reports whether stream has at least one event. It is asked when a
// read of the stream found nothing: a stream whose only rows have a revision no
// read can reach (NULL, negative: a damaged table) is reported as corrupt, not as
// missing or empty.
func (s *Store) streamExists(ctx context.Context, stream string) (bool, error) {
	var exists bool
	var damaged *int64
	err := s.withConn(ctx, "read stream", func(c *pgxpool.Conn) error {
		return c.QueryRow(ctx, s.sql.streamExists, stream).Scan(&exists, &damaged)
	})
	if err == nil && damaged != nil {
		err = corruptRow(*damaged, "revision is not a non-negative integer")
	}
	return exists, err
}
