package testkit

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// ProjectionScenario is a given-then test of a projection over a SQLite target
// (projection/sqlitetarget), built by Projection. Each Then seeds a memory store
// with the given events, runs the projection until it has caught up, runs the
// assertion on the read model, and then checks the projection's guarantees (G8,
// G9):
//
//   - applying the same events a second time (a replay of the whole log, through
//     the per-stream guard) leaves every table of the read model unchanged;
//   - a blue/green rebuild (Runner.Rebuild: a new generation built beside the
//     active one and switched in) and a rebuild from scratch into a fresh database
//     give the same contents, and the assertion holds on them too.
//
// Assertions read through the views (the logical table names), as readers must.
type ProjectionScenario struct {
	t     T
	p     projection.Projection[*sqlitetarget.Tx]
	given []givenAppend
}

type givenAppend struct {
	stream string
	events []eventstore.EventData
}

// Projection starts a scenario for p.
func Projection(t T, p projection.Projection[*sqlitetarget.Tx]) *ProjectionScenario {
	return &ProjectionScenario{t: t, p: p}
}

// Given appends events to stream, in one append. Events with a zero ID get a
// deterministic one (derived from the stream and the event's place in it).
func (s *ProjectionScenario) Given(stream string, events ...eventstore.EventData) *ProjectionScenario {
	evs := slices.Clone(events)
	n := 0
	for _, g := range s.given {
		if g.stream == stream {
			n += len(g.events)
		}
	}
	for i := range evs {
		if evs[i].ID == uuid.Nil {
			evs[i].ID = uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "testkit/%s/%d", stream, n+i))
		}
	}
	s.given = append(s.given, givenAppend{stream: stream, events: evs})
	return s
}

// ThenQuery asserts that query, run on the read model, returns want, row by row in
// order; values compare by their fmt %v form ([]byte as text).
func (s *ProjectionScenario) ThenQuery(query string, want ...[]any) *ProjectionScenario {
	s.t.Helper()
	return s.Then(func(t T, db *sql.DB) {
		t.Helper()
		got, err := queryRows(db, query)
		if err != nil {
			t.Errorf("query %q: %v", query, err)
			return
		}
		wantRows := make([]string, len(want))
		for i, w := range want {
			wantRows[i] = formatRow(w)
		}
		if !slices.Equal(got, wantRows) {
			t.Errorf("query %q\n got: %s\nwant: %s", query, strings.Join(got, "; "), strings.Join(wantRows, "; "))
		}
	})
}

// Then runs the projection over the given events and calls check with the read
// model's database, then checks replay and rebuild as the type documents.
func (s *ProjectionScenario) Then(check func(t T, db *sql.DB)) *ProjectionScenario {
	s.t.Helper()
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	if !s.appendGiven(ctx, store) {
		return s
	}
	dir, err := os.MkdirTemp("", "idem-testkit-projection-")
	if err != nil {
		s.t.Errorf("projection scenario: %v", err)
		return s
	}
	s.t.Cleanup(func() { os.RemoveAll(dir) })

	live, r, ok := s.build(ctx, store, filepath.Join(dir, "live.db"))
	if !ok {
		return s
	}
	defer live.Close()
	db := live.DB()
	if !s.check("after the given events", check, db) {
		return s
	}
	want, ok := s.dump(db)
	// A step runs only when the ones before it passed: one mistake, one message.
	if !ok || !s.replayChangesNothing(ctx, store, r, db, want) || !s.blueGreenRebuildMatches(ctx, r, check, db, want) {
		return s
	}
	s.freshRebuildMatches(ctx, store, filepath.Join(dir, "rebuilt.db"), want)
	return s
}

// appendGiven appends the given events to store, one append per Given.
func (s *ProjectionScenario) appendGiven(ctx context.Context, store eventstore.Store) bool {
	s.t.Helper()
	for _, g := range s.given {
		if _, err := store.Append(ctx, g.stream, eventstore.Any(), g.events...); err != nil {
			s.t.Errorf("given: %v", err)
			return false
		}
	}
	return true
}

// replayChangesNothing applies the same events a second time (G8): nothing may be
// applied, and the read model, want before, must not change.
func (s *ProjectionScenario) replayChangesNothing(ctx context.Context, store *memory.Store, r *projection.Runner[*sqlitetarget.Tx], db *sql.DB, want string) bool {
	s.t.Helper()
	head, err := store.Head(ctx)
	if err != nil {
		s.t.Errorf("head: %v", err)
		return false
	}
	res, err := r.ReplayRange(ctx, s.p.Name, eventstore.Start(), head)
	if err != nil {
		s.t.Errorf("%s: replaying the given events: %v", s.name(), err)
		return false
	}
	if res.Applied != 0 {
		s.t.Errorf("%s: replaying the given events applied %d of them again", s.name(), res.Applied)
	}
	if got, ok := s.dump(db); ok && got != want {
		s.t.Errorf("%s: the read model changed when the same events were applied a second time\nbefore:\n%s\nafter:\n%s", s.name(), want, got)
		return false
	}
	return true
}

// blueGreenRebuildMatches rebuilds the projection beside the live generation and
// switches to it (G9): the assertion must hold and the read model must be want.
func (s *ProjectionScenario) blueGreenRebuildMatches(ctx context.Context, r *projection.Runner[*sqlitetarget.Tx], check func(T, *sql.DB), db *sql.DB, want string) bool {
	s.t.Helper()
	if err := r.Rebuild(ctx, s.p.Name); err != nil {
		s.t.Errorf("%s: rebuild: %v", s.name(), err)
		return false
	}
	if !s.check("after a blue/green rebuild", check, db) {
		return false
	}
	if got, ok := s.dump(db); ok && got != want {
		s.t.Errorf("%s: a blue/green rebuild gave a different read model\nlive:\n%s\nrebuilt:\n%s", s.name(), want, got)
		return false
	}
	return true
}

// freshRebuildMatches builds the projection from scratch into a new database at
// path: its read model must be want.
func (s *ProjectionScenario) freshRebuildMatches(ctx context.Context, store eventstore.Store, path, want string) {
	s.t.Helper()
	fresh, _, ok := s.build(ctx, store, path)
	if !ok {
		return
	}
	defer fresh.Close()
	if got, ok := s.dump(fresh.DB()); ok && got != want {
		s.t.Errorf("%s: a rebuild from scratch gave a different read model\nlive:\n%s\nrebuilt:\n%s", s.name(), want, got)
	}
}

func (s *ProjectionScenario) name() string {
	return fmt.Sprintf("projection %s version %d", s.p.Name, s.p.Version)
}

// build opens a target at path and runs the projection into it until caught up.
func (s *ProjectionScenario) build(ctx context.Context, store eventstore.Store, path string) (*sqlitetarget.Target, *projection.Runner[*sqlitetarget.Tx], bool) {
	s.t.Helper()
	tg, err := sqlitetarget.Open(ctx, path)
	if err != nil {
		s.t.Errorf("%s: %v", s.name(), err)
		return nil, nil, false
	}
	r, err := projection.NewRunner(store, tg, projection.WithRetries(0), projection.WithLogger(slog.New(slog.DiscardHandler)))
	if err == nil {
		err = r.Add(s.p)
	}
	if err == nil {
		err = r.CatchUp(ctx)
	}
	if err != nil {
		tg.Close()
		s.t.Errorf("%s: %v", s.name(), err)
		return nil, nil, false
	}
	return tg, r, true
}

// check runs the user's assertion and reports whether it passed.
func (s *ProjectionScenario) check(when string, check func(T, *sql.DB), db *sql.DB) bool {
	s.t.Helper()
	rec := &recordingT{T: s.t, when: when}
	check(rec, db)
	return !rec.failed
}

// dump renders every row of every table of the read model, through its view,
// sorted: a comparison that does not depend on row order.
func (s *ProjectionScenario) dump(db *sql.DB) (string, bool) {
	s.t.Helper()
	var b strings.Builder
	for _, table := range s.p.Tables {
		rows, err := queryRows(db, `SELECT * FROM "`+table+`"`)
		if err != nil {
			s.t.Errorf("%s: read table %s: %v", s.name(), table, err)
			return "", false
		}
		slices.Sort(rows)
		fmt.Fprintf(&b, "%s (%d rows)\n", table, len(rows))
		for _, r := range rows {
			fmt.Fprintf(&b, "  %s\n", r)
		}
	}
	return b.String(), true
}

func queryRows(db *sql.DB, query string) ([]string, error) {
	rows, err := db.Query(query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, formatRow(vals))
	}
	return out, rows.Err()
}

func formatRow(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		parts[i] = fmt.Sprintf("%v", v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// recordingT notes whether an assertion failed, and says at which step.
type recordingT struct {
	T
	when   string
	failed bool
}

func (r *recordingT) Errorf(format string, args ...any) {
	r.T.Helper()
	r.failed = true
	r.T.Errorf("%s: "+format, append([]any{r.when}, args...)...)
}
