// Package targettest is the conformance suite of the projection.Target contract.
// The SQLite target runs it, and so should any other (PostgreSQL, ...): a target
// that passes it keeps the guarantees the runner relies on, G8 (the checkpoint and
// guards commit with the read model) and G9 (readers switch generations at once).
//
// To test a target, call Run from a test with a Harness: a factory of new, empty
// targets, and three small functions that create, write and read one logical table
// through the target's own transaction type, so that the suite can tell what
// readers read.
//
//	func TestConformance(t *testing.T) {
//		targettest.Run(t, targettest.Harness[*mytarget.Tx]{
//			New: func(t *testing.T) projection.Target[*mytarget.Tx] { ... },
//			CreateTable: func(ctx context.Context, tx *mytarget.Tx, table string) error { ... },
//			Insert: func(ctx context.Context, tx *mytarget.Tx, table string, n int64) error { ... },
//			Read: func(ctx context.Context, target projection.Target[*mytarget.Tx], table string) ([]int64, error) { ... },
//		})
//	}
//
// Run runs one subtest per case, each against a fresh target: Init (idempotent,
// concurrent), Create (recorded as Building at Start, Setup checked, a failed
// Write leaves nothing), Activate (readers switch in one Write, a failed switch
// leaves them), Checkpoint (compare-and-set, ErrRetired), Guards (per generation,
// never back), Parked (fields kept, attempts added, Unpark once), Drop (retired
// only), Serialised (Writes of one name one after the other) and Runner (a build,
// a Rebuild and a replay through the runner). See projection/sqlitetarget's
// TestConformance for a harness.
package targettest

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/projection"
)

// Harness adapts the suite to the target under test.
type Harness[Tx any] struct {
	// New returns a new, empty target (its bookkeeping not created yet) and
	// registers its cleanup with t.Cleanup.
	New func(t *testing.T) projection.Target[Tx]
	// CreateTable creates, through tx, the table holding logical table table in
	// tx's generation, with one integer column.
	CreateTable func(ctx context.Context, tx Tx, table string) error
	// Insert adds n to logical table table through tx.
	Insert func(ctx context.Context, tx Tx, table string, n int64) error
	// Read returns, in ascending order, the values readers of target read from
	// logical table table (through its view, say); an error if readers cannot read
	// it.
	Read func(ctx context.Context, target projection.Target[Tx], table string) ([]int64, error)
}

// Run runs the suite.
func Run[Tx any](t *testing.T, h Harness[Tx]) {
	cases := []struct {
		name string
		run  func(t *testing.T, s *suite[Tx])
	}{
		{"Init", testInit[Tx]},
		{"Create", testCreate[Tx]},
		{"Activate", testActivate[Tx]},
		{"Checkpoint", testCheckpoint[Tx]},
		{"Guards", testGuards[Tx]},
		{"Parked", testParked[Tx]},
		{"Drop", testDrop[Tx]},
		{"Serialised", testSerialised[Tx]},
		{"Runner", testRunner[Tx]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			s := &suite[Tx]{h: h, t: t, ctx: ctx, target: h.New(t)}
			c.run(t, s)
		})
	}
}

type suite[Tx any] struct {
	h      Harness[Tx]
	t      *testing.T
	ctx    context.Context
	target projection.Target[Tx]
}

func (s *suite[Tx]) init() {
	s.t.Helper()
	if err := s.target.Init(s.ctx); err != nil {
		s.t.Fatalf("Init: %v", err)
	}
}

func (s *suite[Tx]) write(name string, fn func(w projection.Writer[Tx]) error) error {
	return s.target.Write(s.ctx, name, fn)
}

func (s *suite[Tx]) mustWrite(name string, fn func(w projection.Writer[Tx]) error) {
	s.t.Helper()
	if err := s.write(name, fn); err != nil {
		s.t.Fatalf("Write: %v", err)
	}
}

func (s *suite[Tx]) generations(name string) []projection.Generation {
	s.t.Helper()
	gens, err := s.target.Generations(s.ctx, name)
	if err != nil {
		s.t.Fatalf("Generations: %v", err)
	}
	return gens
}

func gen(name string, n, version int, tables ...string) projection.Generation {
	return projection.Generation{Name: name, Number: n, Kind: projection.KindProjection, Version: version, State: projection.Building, Tables: tables}
}

// setup returns a Setup that creates each of tables.
func (s *suite[Tx]) setup(tables ...string) func(tx Tx) error {
	return func(tx Tx) error {
		for _, table := range tables {
			if err := s.h.CreateTable(s.ctx, tx, table); err != nil {
				return err
			}
		}
		return nil
	}
}

// create records and sets up generation g, activating it if activate is set.
func (s *suite[Tx]) create(g projection.Generation, activate bool, values ...int64) {
	s.t.Helper()
	s.mustWrite(g.Name, func(w projection.Writer[Tx]) error {
		if err := w.Create(s.ctx, g, s.setup(g.Tables...)); err != nil {
			return err
		}
		tx := w.Tx(s.ctx, g)
		for _, table := range g.Tables {
			for _, v := range values {
				if err := s.h.Insert(s.ctx, tx, table, v); err != nil {
					return err
				}
			}
		}
		if activate {
			return w.Activate(s.ctx, g.Number)
		}
		return nil
	})
}

func (s *suite[Tx]) read(table string) []int64 {
	s.t.Helper()
	got, err := s.h.Read(s.ctx, s.target, table)
	if err != nil {
		s.t.Fatalf("read %s: %v", table, err)
	}
	return got
}

// testInit: Init is idempotent and safe to run at once from several goroutines; a
// new target has no generation.
func testInit[Tx any](t *testing.T, s *suite[Tx]) {
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.target.Init(s.ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Init at once: %v", err)
	}
	s.init()
	if gens := s.generations("p"); len(gens) != 0 {
		t.Fatalf("Generations of a new target: %+v", gens)
	}
}

// testCreate: Create records a generation as Building at Start with its kind,
// version and tables, and runs Setup; a Setup that misses a table fails with
// ErrInvalidProjection; a failed Write leaves nothing behind and returns fn's error.
func testCreate[Tx any](t *testing.T, s *suite[Tx]) {
	s.init()
	boom := errors.New("boom")
	err := s.write("p", func(w projection.Writer[Tx]) error {
		if err := w.Create(s.ctx, gen("p", 1, 3, "things"), s.setup("things")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write whose fn failed = %v, want fn's error", err)
	}
	if gens := s.generations("p"); len(gens) != 0 {
		t.Fatalf("a rolled back Create left %+v", gens)
	}
	err = s.write("p", func(w projection.Writer[Tx]) error {
		return w.Create(s.ctx, gen("p", 1, 3, "things", "others"), s.setup("things"))
	})
	if !errors.Is(err, projection.ErrInvalidProjection) {
		t.Fatalf("Create whose Setup missed a table = %v, want ErrInvalidProjection", err)
	}
	before := time.Now().Add(-time.Minute)
	s.create(gen("p", 1, 3, "things"), false)
	s.mustWrite("r", func(w projection.Writer[Tx]) error {
		return w.Create(s.ctx, projection.Generation{Name: "r", Number: 1, Kind: projection.KindReactor, State: projection.Building}, nil)
	})
	gens := s.generations("p")
	if len(gens) != 1 {
		t.Fatalf("Generations = %+v, want one", gens)
	}
	g := gens[0]
	if g.Name != "p" || g.Number != 1 || g.Kind != projection.KindProjection || g.Version != 3 || g.State != projection.Building ||
		!slices.Equal(g.Tables, []string{"things"}) || g.Checkpoint != eventstore.Start() || g.Parked != 0 ||
		g.Created.Before(before) || g.Updated.Before(before) {
		t.Fatalf("generation recorded as %+v", g)
	}
	if r := s.generations("r"); len(r) != 1 || r[0].Kind != projection.KindReactor || len(r[0].Tables) != 0 {
		t.Fatalf("reactor generation recorded as %+v", r)
	}
}

// testActivate: readers read the active generation; a switch (retire the old,
// activate the new, in one Write) moves them at once; a logical table the new
// generation lacks is no longer readable; a failed switch leaves readers where
// they were (G9).
func testActivate[Tx any](t *testing.T, s *suite[Tx]) {
	s.init()
	s.create(gen("p", 1, 1, "things", "gone"), true, 1)
	if got := s.read("things"); !slices.Equal(got, []int64{1}) {
		t.Fatalf("readers read %v from generation 1, want [1]", got)
	}
	s.create(gen("p", 2, 1, "things"), false, 2)
	if got := s.read("things"); !slices.Equal(got, []int64{1}) {
		t.Fatalf("readers read %v while generation 2 builds, want generation 1's [1]", got)
	}
	err := s.write("p", func(w projection.Writer[Tx]) error {
		if err := w.Retire(s.ctx, 1); err != nil {
			return err
		}
		if err := w.Activate(s.ctx, 2); err != nil {
			return err
		}
		return errors.New("changed my mind")
	})
	if err == nil {
		t.Fatal("a failed switch committed")
	}
	if got := s.read("things"); !slices.Equal(got, []int64{1}) {
		t.Fatalf("readers read %v after a failed switch, want [1]", got)
	}
	s.mustWrite("p", func(w projection.Writer[Tx]) error {
		if err := w.Retire(s.ctx, 1); err != nil {
			return err
		}
		return w.Activate(s.ctx, 2)
	})
	if got := s.read("things"); !slices.Equal(got, []int64{2}) {
		t.Fatalf("readers read %v after the switch, want generation 2's [2]", got)
	}
	if _, err := s.h.Read(s.ctx, s.target, "gone"); err == nil {
		t.Fatal("readers still read a logical table the active generation does not have")
	}
	gens := s.generations("p")
	if len(gens) != 2 || gens[0].State != projection.Retired || gens[1].State != projection.Active {
		t.Fatalf("generations after the switch: %+v", gens)
	}
}

// testCheckpoint: Advance is a compare-and-set (ErrCheckpointMoved); Claim and
// Advance of a retired generation fail with ErrRetired; Generations reports the
// checkpoint.
func testCheckpoint[Tx any](t *testing.T, s *suite[Tx]) {
	s.init()
	s.create(gen("p", 1, 1, "things"), true)
	p1 := eventstore.Position{Commit: 10, Prepare: 9}
	p2 := eventstore.Position{Commit: 20, Prepare: 19}
	s.mustWrite("p", func(w projection.Writer[Tx]) error { return w.Advance(s.ctx, 1, eventstore.Start(), p1) })
	err := s.write("p", func(w projection.Writer[Tx]) error { return w.Advance(s.ctx, 1, eventstore.Start(), p2) })
	if !errors.Is(err, projection.ErrCheckpointMoved) {
		t.Fatalf("Advance from a stale checkpoint = %v, want ErrCheckpointMoved", err)
	}
	s.mustWrite("p", func(w projection.Writer[Tx]) error {
		if err := w.Claim(s.ctx, 1); err != nil {
			return err
		}
		return w.Advance(s.ctx, 1, p1, p2)
	})
	if g := s.generations("p"); g[0].Checkpoint != p2 {
		t.Fatalf("checkpoint %v, want %v", g[0].Checkpoint, p2)
	}
	s.mustWrite("p", func(w projection.Writer[Tx]) error { return w.Retire(s.ctx, 1) })
	if err := s.write("p", func(w projection.Writer[Tx]) error { return w.Claim(s.ctx, 1) }); !errors.Is(err, projection.ErrRetired) {
		t.Fatalf("Claim of a retired generation = %v, want ErrRetired", err)
	}
	if err := s.write("p", func(w projection.Writer[Tx]) error { return w.Advance(s.ctx, 1, p2, p2) }); !errors.Is(err, projection.ErrRetired) {
		t.Fatalf("Advance of a retired generation = %v, want ErrRetired", err)
	}
}

// testGuards: guards are per generation, read the same in and out of a Write, and
// never move back (G8).
func testGuards[Tx any](t *testing.T, s *suite[Tx]) {
	s.init()
	s.create(gen("p", 1, 1, "things"), true)
	s.create(gen("p", 2, 1, "things"), false)
	s.mustWrite("p", func(w projection.Writer[Tx]) error {
		if err := w.SaveGuards(s.ctx, 1, map[string]uint64{"a": 5, "b": 0}); err != nil {
			return err
		}
		return w.SaveGuards(s.ctx, 2, map[string]uint64{"a": 1})
	})
	s.mustWrite("p", func(w projection.Writer[Tx]) error {
		return w.SaveGuards(s.ctx, 1, map[string]uint64{"a": 3, "b": 2})
	})
	want := map[string]uint64{"a": 5, "b": 2}
	got, err := s.target.Guards(s.ctx, "p", 1, []string{"a", "b", "c"})
	if err != nil || len(got) != 2 || got["a"] != want["a"] || got["b"] != want["b"] {
		t.Fatalf("Guards = %v, %v; want %v (the higher revision kept, none for c)", got, err, want)
	}
	s.mustWrite("p", func(w projection.Writer[Tx]) error {
		in, err := w.Guards(s.ctx, 1, []string{"a", "b", "c"})
		if err != nil || len(in) != 2 || in["a"] != 5 || in["b"] != 2 {
			t.Errorf("Writer.Guards = %v, %v; want %v", in, err, want)
		}
		return nil
	})
	if g2, err := s.target.Guards(s.ctx, "p", 2, []string{"a", "b"}); err != nil || len(g2) != 1 || g2["a"] != 1 {
		t.Fatalf("generation 2's guards = %v, %v; want a=1", g2, err)
	}
}

// testParked: a parked event keeps every field; parking it again adds its
// attempts; Unpark removes it once (ErrParkedNotFound after); Generations counts
// parked events.
func testParked[Tx any](t *testing.T, s *suite[Tx]) {
	s.init()
	s.create(gen("p", 1, 1, "things"), true)
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	pe := projection.ParkedEvent{Projection: "p", Generation: 1, Err: "boom", Attempts: 3, ParkedAt: at,
		Event: eventstore.RecordedEvent{ID: uuid.New(), Stream: "s-1", Revision: 4, Position: eventstore.Position{Commit: 7, Prepare: 6},
			Type: "T", Data: []byte(`{"x":1}`), Metadata: []byte{}, RecordedAt: at.Add(-time.Hour)}}
	other := pe
	other.Event.ID, other.Event.Position, other.Event.Data, other.Event.Metadata = uuid.New(), eventstore.Position{Commit: 9, Prepare: 8}, nil, nil
	s.mustWrite("p", func(w projection.Writer[Tx]) error {
		if err := w.Park(s.ctx, 1, pe); err != nil {
			return err
		}
		return w.Park(s.ctx, 1, other)
	})
	again := pe
	again.Err, again.Attempts = "boom again", 1
	s.mustWrite("p", func(w projection.Writer[Tx]) error { return w.Park(s.ctx, 1, again) })
	list, err := s.target.Parked(s.ctx, "p")
	if err != nil || len(list) != 2 {
		t.Fatalf("Parked = %+v, %v; want two events", list, err)
	}
	got := list[0]
	if got.Projection != "p" || got.Generation != 1 || got.Err != "boom again" || got.Attempts != 4 ||
		got.Event.ID != pe.Event.ID || got.Event.Stream != "s-1" || got.Event.Revision != 4 || got.Event.Position != pe.Event.Position ||
		got.Event.Type != "T" || string(got.Event.Data) != `{"x":1}` || !got.Event.RecordedAt.Equal(pe.Event.RecordedAt) || got.ParkedAt.IsZero() {
		t.Fatalf("parked event read back as %+v, parked as %+v (then 1 more attempt)", got, pe)
	}
	if list[1].Event.ID != other.Event.ID || len(list[1].Event.Data) != 0 {
		t.Fatalf("second parked event read back as %+v", list[1])
	}
	if g := s.generations("p"); g[0].Parked != 2 {
		t.Fatalf("Generation.Parked = %d, want 2", g[0].Parked)
	}
	s.mustWrite("p", func(w projection.Writer[Tx]) error { return w.Unpark(s.ctx, 1, pe.Event.ID) })
	err = s.write("p", func(w projection.Writer[Tx]) error { return w.Unpark(s.ctx, 1, pe.Event.ID) })
	if !errors.Is(err, projection.ErrParkedNotFound) {
		t.Fatalf("second Unpark = %v, want ErrParkedNotFound", err)
	}
	if list, _ := s.target.Parked(s.ctx, "p"); len(list) != 1 {
		t.Fatalf("Parked after Unpark = %+v", list)
	}
}

// testDrop: only a retired generation is dropped; it keeps its record, retired,
// with no tables, guards or parked events.
func testDrop[Tx any](t *testing.T, s *suite[Tx]) {
	s.init()
	s.create(gen("p", 1, 1, "things"), true, 1)
	s.create(gen("p", 2, 1, "things"), false, 2)
	s.mustWrite("p", func(w projection.Writer[Tx]) error {
		if err := w.SaveGuards(s.ctx, 1, map[string]uint64{"a": 1}); err != nil {
			return err
		}
		return w.Park(s.ctx, 1, projection.ParkedEvent{Projection: "p", Generation: 1, Err: "x", Attempts: 1,
			Event: eventstore.RecordedEvent{ID: uuid.New(), Stream: "a", Type: "T", RecordedAt: time.Now()}})
	})
	if err := s.write("p", func(w projection.Writer[Tx]) error { return w.Drop(s.ctx, 1) }); err == nil {
		t.Fatal("Drop of an active generation succeeded")
	}
	s.mustWrite("p", func(w projection.Writer[Tx]) error {
		if err := w.Retire(s.ctx, 1); err != nil {
			return err
		}
		return w.Activate(s.ctx, 2)
	})
	s.mustWrite("p", func(w projection.Writer[Tx]) error { return w.Drop(s.ctx, 1) })
	gens := s.generations("p")
	if len(gens) != 2 || gens[0].State != projection.Retired || len(gens[0].Tables) != 0 || gens[0].Parked != 0 {
		t.Fatalf("dropped generation recorded as %+v", gens[0])
	}
	if g, err := s.target.Guards(s.ctx, "p", 1, []string{"a"}); err != nil || len(g) != 0 {
		t.Fatalf("dropped generation's guards: %v, %v", g, err)
	}
	if got := s.read("things"); !slices.Equal(got, []int64{2}) {
		t.Fatalf("readers read %v after the drop, want generation 2's [2]", got)
	}
}

// testSerialised: Writes under one name run one after the other: a guard read,
// then written one higher, by many Writes at once, ends at their number (G8 relies
// on it for the per-stream guard).
func testSerialised[Tx any](t *testing.T, s *suite[Tx]) {
	s.init()
	s.create(gen("p", 1, 1, "things"), true)
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			errs[i] = s.write("p", func(w projection.Writer[Tx]) error {
				g, err := w.Guards(s.ctx, 1, []string{"s"})
				if err != nil {
					return err
				}
				time.Sleep(5 * time.Millisecond) // widen the window a second Write would slip into
				return w.SaveGuards(s.ctx, 1, map[string]uint64{"s": g["s"] + 1})
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Writes: %v", err)
	}
	g, err := s.target.Guards(s.ctx, "p", 1, []string{"s"})
	if err != nil || g["s"] != writers {
		t.Fatalf("guard after %d serialised increments: %v, %v", writers, g, err)
	}
}

// testRunner: the runner over the target builds a projection, rebuilds it with a
// Rebuild call (readers then read generation 2, with the same contents), and a
// replay changes nothing.
func testRunner[Tx any](t *testing.T, s *suite[Tx]) {
	store := memory.New()
	defer store.Close()
	for i := range 50 {
		if _, err := store.Append(s.ctx, "s-"+string(rune('a'+i%5)), eventstore.Any(), eventstore.EventData{ID: uuid.New(), Type: "T"}); err != nil {
			t.Fatal(err)
		}
	}
	p := projection.Projection[Tx]{Name: "numbers", Version: 1, Tables: []string{"numbers"},
		Setup: func(ctx context.Context, tx Tx) error { return s.h.CreateTable(ctx, tx, "numbers") },
		Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
			return s.h.Insert(ctx, tx, "numbers", int64(e.Position.Commit))
		},
	}
	r, err := projection.NewRunner(store, s.target, projection.WithCatchUpBatchSize(16), projection.WithRetries(0),
		projection.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(p); err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(s.ctx); err != nil {
		t.Fatal(err)
	}
	live := s.read("numbers")
	if len(live) != 50 {
		t.Fatalf("readers read %d rows, want 50", len(live))
	}
	if err := r.Rebuild(s.ctx, "numbers"); err != nil {
		t.Fatal(err)
	}
	if got := s.read("numbers"); !slices.Equal(got, live) {
		t.Fatalf("the rebuilt read model differs: %v, live %v", got, live)
	}
	st, err := r.Status(s.ctx, "numbers")
	if err != nil || st.Active == nil || st.Active.Number != 2 || st.Lag != 0 {
		t.Fatalf("status after Rebuild: %+v, %v", st, err)
	}
	res, err := r.ReplayRange(s.ctx, "numbers", eventstore.Start(), st.Checkpoint)
	if err != nil || res.Applied != 0 || res.Skipped != 50 {
		t.Fatalf("replay of everything: %+v, %v; want 50 skipped", res, err)
	}
}
