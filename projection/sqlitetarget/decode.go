package sqlitetarget

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/projection"
)

var errCorruptFile = fmt.Errorf("damaged database file: %w", eventstore.ErrCorrupt)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// record is one bookkeeping row, scanned into values of any type, decoded column
// by column with their storage class checked: a value of the wrong class (text in
// an integer column, a blob in a text one) is corruption, reported with the row,
// never a panic or a silent zero (G11).
type record struct {
	table string
	cols  []string
	vals  []any
	err   string // the first problem found
}

func scanRecord(rows *sql.Rows, table string, cols []string) (*record, error) {
	r := &record{table: table, cols: cols, vals: make([]any, len(cols))}
	ptrs := make([]any, len(cols))
	for i := range r.vals {
		ptrs[i] = &r.vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	return r, nil
}

// class names the storage class of a scanned value.
func class(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case int64:
		return "integer"
	case float64:
		return "real"
	case string:
		return "text"
	case []byte:
		return "blob"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func (r *record) fail(i int, reason string) {
	if r.err == "" {
		r.err = fmt.Sprintf("column %s: %s", r.cols[i], reason)
	}
}

func (r *record) text(i int) string {
	s, ok := r.vals[i].(string)
	if !ok {
		r.fail(i, "want text, found "+class(r.vals[i]))
	}
	return s
}

// count decodes a non-negative integer that fits an int.
func (r *record) count(i int) int {
	n, ok := r.vals[i].(int64)
	switch {
	case !ok:
		r.fail(i, "want an integer, found "+class(r.vals[i]))
	case n < 0 || n > math.MaxInt32:
		r.fail(i, fmt.Sprintf("%d out of range", n))
		n = 0
	}
	return int(n)
}

// uint decodes a non-negative integer (a revision, a position).
func (r *record) uint(i int) uint64 {
	n, ok := r.vals[i].(int64)
	switch {
	case !ok:
		r.fail(i, "want an integer, found "+class(r.vals[i]))
	case n < 0:
		r.fail(i, fmt.Sprintf("negative value %d", n))
		n = 0
	}
	return uint64(n)
}

// blob decodes a blob or NULL.
func (r *record) blob(i int) []byte {
	switch v := r.vals[i].(type) {
	case nil:
		return nil
	case []byte:
		return v
	default:
		r.fail(i, "want a blob, found "+class(v))
		return nil
	}
}

func (r *record) time(i int) time.Time {
	s := r.text(i)
	if s == "" && r.err != "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		r.fail(i, "want an RFC 3339 time, found "+quote.Q(s))
	}
	return t
}

func (r *record) id(i int) uuid.UUID {
	s := r.text(i)
	id, err := uuid.Parse(s)
	if err != nil && r.err == "" {
		r.fail(i, "want an event id, found "+quote.Q(s))
	}
	return id
}

// corrupt returns the error for a row with a problem, naming it by its key columns
// (as stored, whatever their class), or nil.
func (r *record) corrupt(key ...int) error {
	if r.err == "" {
		return nil
	}
	parts := make([]string, len(key))
	for j, i := range key {
		v := r.vals[i]
		if b, ok := v.([]byte); ok {
			v = fmt.Sprintf("x'%x'", b)
		}
		parts[j] = fmt.Sprintf("%s=%s", r.cols[i], quote.Trunc(fmt.Sprint(v)))
	}
	return &projection.CorruptError{What: fmt.Sprintf("%s row (%s)", r.table, strings.Join(parts, ", ")), Reason: r.err}
}

var generationCols = []string{"name", "generation", "kind", "version", "state", "tables", "commit_pos", "prepare_pos",
	"created_at", "updated_at", "parked"}

// generationsQuery reads the generations of a name with their parked events
// counted. A row whose name was stored as a blob is matched too, so that it is
// reported as corrupt instead of ignored.
const generationsQuery = `SELECT name, generation, kind, version, state, tables, commit_pos, prepare_pos, created_at, updated_at,
	(SELECT count(*) FROM idem_projection_parked_events p WHERE p.name = g.name AND p.generation = g.generation)
	FROM idem_projection_generations g
	WHERE name = ?1 OR (typeof(name) != 'text' AND CAST(name AS TEXT) = ?1)
	ORDER BY generation`

func readGenerations(ctx context.Context, q querier, name string) ([]projection.Generation, error) {
	rows, err := q.QueryContext(ctx, generationsQuery, name)
	if err != nil {
		return nil, storageError(ctx, err)
	}
	defer rows.Close()
	var out []projection.Generation
	for rows.Next() {
		r, err := scanRecord(rows, "idem_projection_generations", generationCols)
		if err != nil {
			return nil, storageError(ctx, err)
		}
		g, err := r.generation()
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(ctx, err)
	}
	return out, nil
}

func (r *record) generation() (projection.Generation, error) {
	g := projection.Generation{Name: r.text(0), Number: r.count(1)}
	if r.err == "" && g.Number < 1 {
		r.fail(1, fmt.Sprintf("generation %d below 1", g.Number))
	}
	kind := r.text(2)
	g.Version = r.count(3)
	state := r.text(4)
	tables := r.text(5)
	g.Checkpoint = eventstore.Position{Commit: r.uint(6), Prepare: r.uint(7)}
	g.Created, g.Updated = r.time(8), r.time(9)
	g.Parked = r.count(10)
	if r.err == "" {
		var err error
		if g.Kind, err = projection.ParseKind(kind); err != nil {
			r.fail(2, "unknown kind "+quote.Q(kind))
		}
		if g.State, err = projection.ParseGenerationState(state); err != nil {
			r.fail(4, "unknown state "+quote.Q(state))
		}
	}
	if tables != "" {
		g.Tables = strings.Split(tables, ",")
		for _, t := range g.Tables {
			if !projection.ValidTable(t) {
				r.fail(5, "invalid table name "+quote.Q(t))
			}
		}
	}
	return g, r.corrupt(0, 1)
}

var guardCols = []string{"stream", "revision"}

func readGuards(ctx context.Context, q querier, name string, generation int, streams []string, list string) (map[string]uint64, error) {
	rows, err := q.QueryContext(ctx, `SELECT stream, revision FROM idem_projection_guards
		WHERE name = ? AND generation = ? AND stream IN (SELECT value FROM json_each(?))`, name, generation, list)
	if err != nil {
		return nil, storageError(ctx, err)
	}
	defer rows.Close()
	guards := make(map[string]uint64, len(streams))
	for rows.Next() {
		r, err := scanRecord(rows, "idem_projection_guards", guardCols)
		if err != nil {
			return nil, storageError(ctx, err)
		}
		s, rev := r.text(0), r.uint(1)
		if err := r.corrupt(0); err != nil {
			return nil, fmt.Errorf("%w (name %s, generation %d)", err, quote.Q(name), generation)
		}
		guards[s] = rev
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(ctx, err)
	}
	return guards, nil
}

var parkedCols = []string{"name", "generation", "event_id", "stream", "revision", "commit_pos", "prepare_pos", "type",
	"data", "metadata", "recorded_at", "error", "attempts", "parked_at"}

func readParked(ctx context.Context, q querier, name string) ([]projection.ParkedEvent, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, generation, event_id, stream, revision, commit_pos, prepare_pos, type,
		data, metadata, recorded_at, error, attempts, parked_at FROM idem_projection_parked_events
		WHERE name = ? ORDER BY generation, commit_pos, prepare_pos`, name)
	if err != nil {
		return nil, storageError(ctx, err)
	}
	defer rows.Close()
	var out []projection.ParkedEvent
	for rows.Next() {
		r, err := scanRecord(rows, "idem_projection_parked_events", parkedCols)
		if err != nil {
			return nil, storageError(ctx, err)
		}
		pe := projection.ParkedEvent{Projection: r.text(0), Generation: r.count(1)}
		e := &pe.Event
		e.ID = r.id(2)
		e.Stream = r.text(3)
		e.Revision = r.uint(4)
		e.Position = eventstore.Position{Commit: r.uint(5), Prepare: r.uint(6)}
		e.Type = r.text(7)
		e.Data, e.Metadata = r.blob(8), r.blob(9)
		e.RecordedAt = r.time(10)
		pe.Err = r.text(11)
		pe.Attempts = r.count(12)
		pe.ParkedAt = r.time(13)
		if err := r.corrupt(0, 1, 2); err != nil {
			return nil, err
		}
		out = append(out, pe)
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(ctx, err)
	}
	return out, nil
}

// formatTime is how times are stored: RFC 3339 with nanoseconds, in UTC.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// position converts a position for storage; SQLite integers are signed.
func position(p eventstore.Position) (int64, int64, error) {
	if p.Commit > math.MaxInt64 || p.Prepare > math.MaxInt64 {
		return 0, 0, fmt.Errorf("position %s does not fit SQLite's integers", p)
	}
	return int64(p.Commit), int64(p.Prepare), nil
}
