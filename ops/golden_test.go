package ops_test

import (
	"strings"
	"testing"

	"github.com/idemkit/idem/ops/internal/fixture"
)

// parkedID is the id of the fixture's parked event: the poison deposit's, derived
// from its command id.
const parkedID = "880977a1-d49c-59f5-a640-5d2f208b9810"

// listings are the listings the golden files hold: a name, the arguments and
// the exit status.
var listings = []struct {
	name string
	args string
	code int
}{
	{"streams", "streams", 0},
	{"streams-category", "streams --category account", 0},
	{"streams-limit", "streams --limit 2", 0},
	{"stream", "stream account-a1", 0},
	{"stream-range", "stream account-a1 --from 2 --limit 3", 0},
	{"commands", "commands account-a1", 0},
	{"commands-two-events", "commands account-c3", 0},
	{"command", "command a1-withdraw-big --stream account-a1", 0},
	{"command-not-processed", "command a1-nope --stream account-a1", 1},
	{"projections", "projections", 0},
	{"parked", "parked list", 0},
	{"parked-of-one", "parked list ledger", 0},
	{"parked-show", "parked show balances " + parkedID, 0},
	{"reservations", "reservations", 0},
	{"reservations-stale", "reservations --stale", 0},
	{"reservations-limit", "reservations --limit 1", 0},
	{"reservations-dry-run", "reservations reconcile --dry-run", 0},
}

// TestListingsGolden: every listing, as text and as JSON, on the fixture, is
// what testdata/*.golden holds (go test ./ops -update rewrites them).
func TestListingsGolden(t *testing.T) {
	runListings(t, base, golden)
}

// runListings runs every listing on f, as text and as JSON, and checks its
// output with check.
func runListings(t *testing.T, f fixture.Files, check func(t *testing.T, name, got string)) {
	for _, c := range listings {
		for _, format := range []string{"text", "json"} {
			args := strings.Fields(c.args)
			name := c.name
			if format == "json" {
				args, name = append(args, "--json"), name+".json"
			}
			t.Run(name, func(t *testing.T) {
				r := idem(t, f, args...)
				if r.code != c.code || (c.code == 0 && r.stderr != "") {
					t.Fatalf("exit status %d, want %d; stderr: %s", r.code, c.code, r.stderr)
				}
				check(t, name, r.stdout)
			})
		}
	}
}

// TestAppListingsGolden: the application's own command lists the exact lag (it
// knows what each projection wants), and a reconciliation of the fixture's read
// model finds it clean.
func TestAppListingsGolden(t *testing.T) {
	r := app(t, base, nil, "projections")
	if r.code != 0 {
		t.Fatalf("exit status %d: %s", r.code, r.stderr)
	}
	golden(t, "app-projections", r.stdout)
	f := copyFixture(t)
	for _, format := range []string{"", "--json"} {
		r = app(t, f, nil, strings.Fields("reconcile ledger "+format)...)
		if r.code != 0 {
			t.Fatalf("reconcile %s: exit status %d: %s%s", format, r.code, r.stdout, r.stderr)
		}
		golden(t, "reconcile-clean"+strings.ReplaceAll(format, "--", "."), r.stdout)
	}
}
