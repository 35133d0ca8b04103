package ops_test

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/idemkit/idem/ops"
	"github.com/idemkit/idem/ops/internal/fixture"
)

// exec runs statements on a read model behind the tool's back.
func execSQL(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// balanceOf reads an account's row of the balances view: moves and total.
func balanceOf(t *testing.T, path, account string) (moves, total int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT moves, total FROM balances WHERE account = ?`, account).Scan(&moves, &total); err != nil {
		t.Fatal(err)
	}
	return moves, total
}

// TestParkedRetryAppliesExactlyOnce: retrying the poison deposit with the
// handler still broken keeps it parked (attempts up, status 1); with the fix it
// is applied, once; retrying it again finds nothing to retry and applies nothing.
func TestParkedRetryAppliesExactlyOnce(t *testing.T) {
	f := copyFixture(t)
	if m, tot := balanceOf(t, f.Read, "account-a1"); m != 3 || tot != 130 {
		t.Fatalf("account-a1 before: %d moves, total %d; want 3, 130 (the poison deposit parked)", m, tot)
	}
	r := app(t, f, nil, "parked", "retry", "balances", parkedID)
	if r.code != 1 || !strings.Contains(r.stderr, "deposit refused: reference poison") {
		t.Fatalf("retry with the handler broken: %d %q", r.code, r.stderr)
	}
	if r := idem(t, f, "parked", "list", "--json"); !strings.Contains(r.stdout, `"attempts": 5`) {
		t.Fatalf("the failed retry is not counted: %s", r.stdout)
	}
	healed := []string{fixture.HealedEnv + "=1"}
	r = app(t, f, healed, "parked", "retry", "balances", parkedID)
	if r.code != 0 || r.stdout != "applied parked event "+parkedID+" of balances (generation 1): it is no longer parked\n" {
		t.Fatalf("retry with the fix: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if m, tot := balanceOf(t, f.Read, "account-a1"); m != 4 || tot != 131 {
		t.Fatalf("account-a1 after the retry: %d moves, total %d; want 4, 131", m, tot)
	}
	r = app(t, f, healed, "parked", "retry", "balances", parkedID)
	if r.code != 1 || !strings.Contains(r.stderr, "parked event not found") {
		t.Fatalf("second retry: %d %q", r.code, r.stderr)
	}
	if m, tot := balanceOf(t, f.Read, "account-a1"); m != 4 || tot != 131 {
		t.Fatalf("account-a1 after a second retry: %d moves, total %d; want 4, 131 (applied once)", m, tot)
	}
	if r := idem(t, f, "parked", "list"); r.stdout != "no parked events\n" {
		t.Fatalf("parked list: %q", r.stdout)
	}
}

// TestParkedSkipUnparksWithoutApplying: skip removes the parked event and the
// read model stays without it.
func TestParkedSkipUnparksWithoutApplying(t *testing.T) {
	f := copyFixture(t)
	r := idem(t, f, "parked", "skip", "balances", parkedID)
	if r.code != 0 || !strings.Contains(r.stdout, "it will not be applied") {
		t.Fatalf("skip: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if m, tot := balanceOf(t, f.Read, "account-a1"); m != 3 || tot != 130 {
		t.Fatalf("account-a1 after skip: %d moves, total %d; want 3, 130", m, tot)
	}
	if r := idem(t, f, "parked", "list"); r.stdout != "no parked events\n" {
		t.Fatalf("parked list: %q", r.stdout)
	}
}

// plant changes the live tables of the fixture's read model behind the runner's
// back: a balance changed, one deleted, one added; a ledger row duplicated.
func plant(t *testing.T, f fixture.Files) {
	t.Helper()
	execSQL(t, f.Read,
		`UPDATE balances_g1 SET total = total + 1000 WHERE account = 'account-b2'`,
		`DELETE FROM balances_g1 WHERE account = 'account-c3'`,
		`INSERT INTO balances_g1 (account, moves, total) VALUES ('account-zz', 1, 5)`,
		`INSERT INTO ledger_g1 SELECT * FROM ledger_g1 WHERE amount = 7`)
}

// TestReconcileFindsAPlantedMismatch: reconcile names each planted row, by
// kind, and exits with status 1; on the untouched fixture it reports none and
// exits with 0 (TestAppListingsGolden).
func TestReconcileFindsAPlantedMismatch(t *testing.T) {
	f := copyFixture(t)
	plant(t, f)
	before := readTable(t, f.Read, "balances")
	r := app(t, f, nil, "reconcile", "balances")
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1: %s %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`balances: missing   (account="account-c3", moves=1, total=10)`,
		`balances: extra     (account="account-zz", moves=1, total=5)`,
		`balances: different (account="account-b2", moves=1, total=1007), rebuilt (account="account-b2", moves=1, total=7)`,
		"MISMATCH: 3 rows (1 missing from the live tables, 1 extra, 1 different)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the report does not say %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stderr, "MISMATCH") || strings.Contains(r.stderr, "testapp: ") {
		t.Errorf("stderr %q: a mismatch is reported on stdout only, with no error line", r.stderr)
	}
	if got := readTable(t, f.Read, "balances"); got != before {
		t.Error("reconcile changed the live read model")
	}
	r = app(t, f, nil, "reconcile", "ledger", "--json")
	if r.code != 1 || !strings.Contains(r.stdout, `"extra": 1`) || !strings.Contains(r.stdout, `"mismatches": 1`) {
		t.Errorf("ledger: %d %s", r.code, r.stdout)
	}
}

// TestReconcileCountsMismatchesInTheMetric: the mismatches found are added to
// idem.projection.reconcile.mismatches, by projection and kind, through the meter
// provider the command was given.
func TestReconcileCountsMismatchesInTheMetric(t *testing.T) {
	f := copyFixture(t)
	plant(t, f)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	cmd, err := ops.Command(ops.WithProjections(fixture.Runner), ops.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	code := ops.Execute(context.Background(), cmd, []string{"--store", f.Store, "--read", f.Read, "reconcile", "balances"})
	if code != ops.ExitFailure {
		t.Fatalf("exit status %d, want %d: %s %s", code, ops.ExitFailure, stdout.String(), stderr.String())
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "idem.projection.reconcile.mismatches" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				p, _ := dp.Attributes.Value(attribute.Key("idem.projection"))
				k, _ := dp.Attributes.Value(attribute.Key("idem.kind"))
				got[p.AsString()+"/"+k.AsString()] = dp.Value
			}
		}
	}
	want := map[string]int64{"balances/missing": 1, "balances/extra": 1, "balances/different": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// TestReservationsReconcileReleasesTheStaleClaim: the fixture's claim that no
// command wrote is released, once; the recorded ones stay.
func TestReservationsReconcileReleasesTheStaleClaim(t *testing.T) {
	f := copyFixture(t)
	r := idem(t, f, "reservations", "reconcile")
	if r.code != 0 || !strings.Contains(r.stdout, "handle/eve") || !strings.HasSuffix(r.stdout, "released 1 stale claim\n") {
		t.Fatalf("reconcile: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := idem(t, f, "reservations", "--stale"); r.stdout != "no stale claims\n" {
		t.Fatalf("after: %q", r.stdout)
	}
	if r := idem(t, f, "reservations", "--json"); strings.Count(r.stdout, `"state": "recorded"`) != 3 || strings.Contains(r.stdout, "handle/eve") {
		t.Fatalf("claims after: %s", r.stdout)
	}
	if r := idem(t, f, "reservations", "reconcile"); r.code != 0 || r.stdout != "no stale claims\n" {
		t.Fatalf("second reconcile: %d %q", r.code, r.stdout)
	}
}
