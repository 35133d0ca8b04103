package projection

import (
	"errors"
	"testing"

	"github.com/idemkit/idem/eventstore"
)

// TestDecide is the table of what a runner does with a projection, from the
// generations its target records and the Version of its code (G9).
func TestDecide(t *testing.T) {
	gen := func(n, version int, s GenerationState) Generation {
		return Generation{Name: "p", Number: n, Kind: KindProjection, Version: version, State: s}
	}
	cases := []struct {
		name           string
		gens           []Generation
		version        int
		rebuild, fresh bool
		want           step
		wantGen        int
	}{
		{name: "no generation: the first, active at once", version: 1, want: stepFirst},
		{name: "only retired ones: a new one, active at once", gens: []Generation{gen(1, 1, Retired)}, version: 1, want: stepFirst},
		{name: "active built by this version: continue it", gens: []Generation{gen(1, 2, Active)}, version: 2, want: stepContinue, wantGen: 1},
		{name: "active built by older code: build beside it", gens: []Generation{gen(1, 1, Active)}, version: 2, want: stepBuild},
		{name: "older active, a build of this version under way: resume it",
			gens: []Generation{gen(1, 1, Active), gen(2, 2, Building)}, version: 2, want: stepResume, wantGen: 2},
		{name: "older active, a build of another version under way: build our own",
			gens: []Generation{gen(1, 1, Active), gen(2, 3, Building)}, version: 2, want: stepBuild},
		{name: "active built by newer code: step aside", gens: []Generation{gen(1, 1, Retired), gen(2, 3, Active)}, version: 2, want: stepAside, wantGen: 2},
		{name: "a partial rebuild of this version does not stop Run from continuing the active one",
			gens: []Generation{gen(1, 1, Active), gen(2, 1, Building)}, version: 1, want: stepContinue, wantGen: 1},
		{name: "Rebuild: a new generation beside the active one of the same version",
			gens: []Generation{gen(1, 1, Active)}, version: 1, rebuild: true, want: stepBuild},
		{name: "Rebuild: resumes a partial generation of the same version",
			gens: []Generation{gen(1, 1, Active), gen(2, 1, Building)}, version: 1, rebuild: true, want: stepResume, wantGen: 2},
		{name: "Rebuild with a fresh start: a new generation", gens: []Generation{gen(1, 1, Active), gen(2, 1, Building)},
			version: 1, rebuild: true, fresh: true, want: stepBuild},
		{name: "Rebuild by older code: step aside", gens: []Generation{gen(1, 2, Active)}, version: 1, rebuild: true, want: stepAside, wantGen: 1},
		{name: "Rebuild with nothing built yet: the first", version: 1, rebuild: true, want: stepFirst},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pl, err := decide(c.gens, c.version, c.rebuild, c.fresh)
			if err != nil {
				t.Fatal(err)
			}
			if pl.step != c.want || pl.gen.Number != c.wantGen {
				t.Fatalf("decide = step %d, generation %d; want step %d, generation %d", pl.step, pl.gen.Number, c.want, c.wantGen)
			}
		})
	}
	_, err := decide([]Generation{gen(1, 1, Active), gen(2, 1, Active)}, 1, false, false)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("two active generations: %v, want a CorruptError", err)
	}
}
