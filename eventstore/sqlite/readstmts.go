package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/idemkit/idem/eventstore"
)

// Queries of the read paths whose text is fixed. They are prepared once on the
// read pool (readStmts): preparing a query costs more than reading the ten events of
// a short stream, which is what a command handler without a cache reads on every
// command.
//
// The stream reads select NULL in place of the stream column (streamEventColumns):
// every row they return is of the stream asked for (stream = ? compares TEXT
// exactly), and reading the name back costs a string per row. A read from revision
// 0 forwards, or from the end backwards, starts with the query that has no bound
// on that side, at the same cost: it also meets the rows SQLite sorts beyond
// revision 0 or the last revision, which hold no revision (see ReadStream).
const (
	readStreamFromStartQuery = "SELECT " + streamEventColumns + " FROM events WHERE stream = ? ORDER BY revision LIMIT ?"
	readStreamForwardQuery   = "SELECT " + streamEventColumns + " FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?"
	readStreamFromEndQuery   = "SELECT " + streamEventColumns + " FROM events WHERE stream = ? ORDER BY revision DESC LIMIT ?"
	readStreamBackwardQuery  = "SELECT " + streamEventColumns + " FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?"
	streamLowestQuery        = "SELECT " + streamEventColumns + " FROM events WHERE stream = ? ORDER BY revision LIMIT 1"
	readAllQuery             = "SELECT " + eventColumns + " FROM events WHERE position >= ? AND position <= ? ORDER BY position LIMIT ?"
	streamExistsQuery        = "SELECT 1 FROM events WHERE stream = ? LIMIT 1"
	headQuery                = "SELECT MAX(position) FROM events"
	nextPositionQuery        = "SELECT MIN(position) FROM events WHERE position > ?"
	eventAtQuery             = "SELECT " + eventColumns + " FROM events WHERE position = ?"
	findEventQuery           = "SELECT " + streamEventColumns + " FROM events WHERE stream = ? AND id = ?"
	loadSnapshotQuery        = "SELECT revision, data, taken_at FROM idem_snapshots WHERE stream = ?"
)

// readStmts are the read pool's prepared statements, by query text. The map is
// built by Open and never changed, so it is read without a lock. database/sql
// prepares each statement again, lazily, on every pooled connection it runs on.
type readStmts map[string]*sql.Stmt

func prepareReadStmts(ctx context.Context, db *sql.DB) (readStmts, error) {
	st := readStmts{}
	for _, q := range []string{
		readStreamFromStartQuery, readStreamForwardQuery, readStreamFromEndQuery, readStreamBackwardQuery,
		streamLowestQuery, readAllQuery, streamExistsQuery, headQuery, nextPositionQuery, findEventQuery,
		loadSnapshotQuery,
	} {
		p, err := db.PrepareContext(ctx, q)
		if err != nil {
			st.close()
			return nil, err
		}
		st[q] = p
	}
	return st, nil
}

func (st readStmts) close() {
	for _, p := range st {
		_ = p.Close()
	}
}

// query runs query on the read pool, through its prepared statement when it has
// one.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if p, ok := s.rstmts[query]; ok {
		return p.QueryContext(ctx, args...)
	}
	return s.rdb.QueryContext(ctx, query, args...)
}

// queryRow is query for a single row.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if p, ok := s.rstmts[query]; ok {
		return p.QueryRowContext(ctx, args...)
	}
	return s.rdb.QueryRowContext(ctx, query, args...)
}

// pageBuf is a buffer for the pages of one read.
type pageBuf struct {
	events []eventstore.RecordedEvent
	used   int // the most events any page of this read held
}

// keep records a page read into the buffer, returning it.
func (b *pageBuf) keep(page []eventstore.RecordedEvent) []eventstore.RecordedEvent {
	b.used = max(b.used, len(page))
	return page
}

// pagePool holds page buffers of pageSize events. A page is yielded event by
// event (copies of the struct) and never handed out as a slice, so a read reuses
// one buffer for all its pages and returns it when it ends: a short read does not
// allocate and zero a buffer for a full page.
var pagePool = sync.Pool{New: func() any {
	return &pageBuf{events: make([]eventstore.RecordedEvent, 0, pageSize)}
}}

// getPage returns an empty buffer of capacity pageSize.
func getPage() *pageBuf { return pagePool.Get().(*pageBuf) }

// putPage clears what the read used of b, so that a pooled buffer keeps no event's
// data alive, and pools it.
func putPage(b *pageBuf) {
	clear(b.events[:b.used])
	b.used = 0
	pagePool.Put(b)
}
