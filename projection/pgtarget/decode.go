package pgtarget

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/projection"
)

// querier is what *pgxpool.Pool and pgx.Tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// record decodes one bookkeeping row scanned into nullable values, column by
// column: a NULL where the table forbids one, or a value out of range, is
// corruption, reported with the row, never a panic or a silent zero (G11).
type record struct {
	table string
	cols  []string
	err   string // the first problem found
}

func (r *record) fail(i int, reason string) {
	if r.err == "" {
		r.err = fmt.Sprintf("column %s: %s", r.cols[i], reason)
	}
}

func (r *record) text(i int, v pgtype.Text) string {
	if !v.Valid {
		r.fail(i, "NULL")
	}
	return v.String
}

// count decodes a non-negative integer.
func (r *record) count(i int, v pgtype.Int4) int {
	switch {
	case !v.Valid:
		r.fail(i, "NULL")
	case v.Int32 < 0:
		r.fail(i, fmt.Sprintf("negative value %d", v.Int32))
		return 0
	}
	return int(v.Int32)
}

// uint decodes a non-negative bigint (a revision, a position).
func (r *record) uint(i int, v pgtype.Int8) uint64 {
	switch {
	case !v.Valid:
		r.fail(i, "NULL")
	case v.Int64 < 0:
		r.fail(i, fmt.Sprintf("negative value %d", v.Int64))
		return 0
	}
	return uint64(v.Int64)
}

func (r *record) time(i int, v pgtype.Timestamptz) time.Time {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		r.fail(i, "not a time")
		return time.Time{}
	}
	return v.Time.UTC()
}

// corrupt returns the error for a row with a problem, naming it by its key, or
// nil.
func (r *record) corrupt(key string) error {
	if r.err == "" {
		return nil
	}
	return &projection.CorruptError{What: fmt.Sprintf("%s row (%s)", r.table, key), Reason: r.err}
}

// generationRow is a row of idem_projection_generations, with its parked events
// counted.
type generationRow struct {
	name                  pgtype.Text
	generation, version   pgtype.Int4
	kind, state           pgtype.Text
	tables                []pgtype.Text
	tablesNull            bool
	commitPos, preparePos pgtype.Int8
	created, updated      pgtype.Timestamptz
	parked                int64
}

var generationCols = []string{"name", "generation", "kind", "version", "state", "tables", "commit_pos", "prepare_pos",
	"created_at", "updated_at"}

// generationsQuery reads the generations of a name, with their parked events
// counted. %[1]s is the generations table, %[2]s the parked events table.
const generationsQuery = `SELECT g.name, g.generation, g.kind, g.version, g.state, g.tables, g.tables IS NULL,
	g.commit_pos, g.prepare_pos, g.created_at, g.updated_at,
	(SELECT count(*) FROM %[2]s p WHERE p.name = g.name AND p.generation = g.generation)
	FROM %[1]s g WHERE g.name = $1 ORDER BY g.generation`

func (t *Target) readGenerations(ctx context.Context, q querier, name string) ([]projection.Generation, error) {
	rows, err := q.Query(ctx, t.generationsSQL, name)
	if err != nil {
		return nil, storageError(ctx, err)
	}
	defer rows.Close()
	var out []projection.Generation
	for rows.Next() {
		var g generationRow
		if err := rows.Scan(&g.name, &g.generation, &g.kind, &g.version, &g.state, &g.tables, &g.tablesNull,
			&g.commitPos, &g.preparePos, &g.created, &g.updated, &g.parked); err != nil {
			return nil, storageError(ctx, err)
		}
		gen, err := g.decode()
		if err != nil {
			return nil, err
		}
		out = append(out, gen)
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(ctx, err)
	}
	return out, nil
}

func (g *generationRow) decode() (projection.Generation, error) {
	r := &record{table: "idem_projection_generations", cols: generationCols}
	out := projection.Generation{Name: r.text(0, g.name), Number: r.count(1, g.generation)}
	if r.err == "" && out.Number < 1 {
		r.fail(1, fmt.Sprintf("generation %d below 1", out.Number))
	}
	kind := r.text(2, g.kind)
	out.Version = r.count(3, g.version)
	state := r.text(4, g.state)
	if g.tablesNull {
		r.fail(5, "NULL")
	}
	for _, tb := range g.tables {
		if !tb.Valid || !projection.ValidTable(tb.String) {
			r.fail(5, "invalid table name "+quote.Q(tb.String))
		}
		out.Tables = append(out.Tables, tb.String)
	}
	out.Checkpoint = eventstore.Position{Commit: r.uint(6, g.commitPos), Prepare: r.uint(7, g.preparePos)}
	out.Created, out.Updated = r.time(8, g.created), r.time(9, g.updated)
	out.Parked = int(g.parked)
	if r.err == "" {
		var err error
		if out.Kind, err = projection.ParseKind(kind); err != nil {
			r.fail(2, "unknown kind "+quote.Q(kind))
		}
		if out.State, err = projection.ParseGenerationState(state); err != nil {
			r.fail(4, "unknown state "+quote.Q(state))
		}
	}
	return out, r.corrupt(fmt.Sprintf("name=%s, generation=%s", quote.Q(g.name.String), describe(g.generation)))
}

func describe(v pgtype.Int4) string {
	if !v.Valid {
		return "NULL"
	}
	return fmt.Sprint(v.Int32)
}

var guardCols = []string{"stream", "revision"}

func (t *Target) readGuards(ctx context.Context, q querier, name string, generation int, streams []string) (map[string]uint64, error) {
	rows, err := q.Query(ctx, `SELECT stream, revision FROM `+t.table("idem_projection_guards")+`
		WHERE name = $1 AND generation = $2 AND stream = ANY ($3::text[])`, name, generation, streams)
	if err != nil {
		return nil, storageError(ctx, err)
	}
	defer rows.Close()
	guards := make(map[string]uint64, len(streams))
	for rows.Next() {
		var stream pgtype.Text
		var rev pgtype.Int8
		if err := rows.Scan(&stream, &rev); err != nil {
			return nil, storageError(ctx, err)
		}
		r := &record{table: "idem_projection_guards", cols: guardCols}
		s, n := r.text(0, stream), r.uint(1, rev)
		if err := r.corrupt(fmt.Sprintf("name=%s, generation=%d, stream=%s", quote.Q(name), generation, quote.Q(s))); err != nil {
			return nil, err
		}
		guards[s] = n
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(ctx, err)
	}
	return guards, nil
}

var parkedCols = []string{"name", "generation", "event_id", "stream", "revision", "commit_pos", "prepare_pos", "type",
	"data", "metadata", "recorded_at", "recorded_ns", "error", "attempts", "parked_at"}

// parkedRow is a row of idem_projection_parked_events.
type parkedRow struct {
	name, stream, typ, errText       pgtype.Text
	generation, recordedNs, attempts pgtype.Int4
	id                               pgtype.UUID
	revision, commitPos, preparePos  pgtype.Int8
	data, metadata                   []byte
	recordedAt, parkedAt             pgtype.Timestamptz
}

func (t *Target) readParked(ctx context.Context, q querier, name string) ([]projection.ParkedEvent, error) {
	rows, err := q.Query(ctx, `SELECT name, generation, event_id, stream, revision, commit_pos, prepare_pos, type,
		data, metadata, recorded_at, recorded_ns, error, attempts, parked_at FROM `+t.table("idem_projection_parked_events")+`
		WHERE name = $1 ORDER BY generation, commit_pos, prepare_pos`, name)
	if err != nil {
		return nil, storageError(ctx, err)
	}
	defer rows.Close()
	var out []projection.ParkedEvent
	for rows.Next() {
		var p parkedRow
		if err := rows.Scan(&p.name, &p.generation, &p.id, &p.stream, &p.revision, &p.commitPos, &p.preparePos, &p.typ,
			&p.data, &p.metadata, &p.recordedAt, &p.recordedNs, &p.errText, &p.attempts, &p.parkedAt); err != nil {
			return nil, storageError(ctx, err)
		}
		pe, err := p.decode()
		if err != nil {
			return nil, err
		}
		out = append(out, pe)
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(ctx, err)
	}
	return out, nil
}

func (p *parkedRow) decode() (projection.ParkedEvent, error) {
	r := &record{table: "idem_projection_parked_events", cols: parkedCols}
	pe := projection.ParkedEvent{Projection: r.text(0, p.name), Generation: r.count(1, p.generation)}
	e := &pe.Event
	if !p.id.Valid {
		r.fail(2, "NULL")
	}
	e.ID = uuid.UUID(p.id.Bytes)
	e.Stream = r.text(3, p.stream)
	e.Revision = r.uint(4, p.revision)
	e.Position = eventstore.Position{Commit: r.uint(5, p.commitPos), Prepare: r.uint(6, p.preparePos)}
	e.Type = r.text(7, p.typ)
	e.Data, e.Metadata = p.data, p.metadata
	e.RecordedAt = r.time(10, p.recordedAt)
	if ns := r.count(11, p.recordedNs); ns > 999 {
		r.fail(11, fmt.Sprintf("%d nanoseconds, want below 1000", ns))
	} else {
		e.RecordedAt = e.RecordedAt.Add(time.Duration(ns))
	}
	pe.Err = r.text(12, p.errText)
	pe.Attempts = r.count(13, p.attempts)
	pe.ParkedAt = r.time(14, p.parkedAt)
	key := fmt.Sprintf("name=%s, generation=%s, event_id=%s", quote.Q(p.name.String), describe(p.generation), e.ID)
	return pe, r.corrupt(key)
}

// splitTime splits t for storage: PostgreSQL keeps microseconds, recorded_ns the
// nanoseconds below them.
func splitTime(t time.Time) (time.Time, int32) {
	t = t.UTC()
	ns := t.Nanosecond() % 1000
	return t.Add(-time.Duration(ns)), int32(ns)
}

// bigint converts a position or revision for storage.
func bigint(what string, v uint64) (int64, error) {
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("%s %d does not fit PostgreSQL's bigint", what, v)
	}
	return int64(v), nil
}

// position converts a position for storage.
func position(p eventstore.Position) (int64, int64, error) {
	c, err := bigint("position", p.Commit)
	if err != nil {
		return 0, 0, err
	}
	pp, err := bigint("position", p.Prepare)
	return c, pp, err
}

// cleanText makes s storable as PostgreSQL text (valid UTF-8, no NUL byte): for
// a handler's error message, which may quote anything.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\\x00")
}

// table quotes the schema-qualified name of a bookkeeping table.
func (t *Target) table(name string) string { return qualified(t.schema, name) }
