package ops_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/ops/internal/fixture"
)

// The PostgreSQL tests run the commands on the fixture built on the server
// IDEM_POSTGRES_URL names (pgtest: skipped without it, failed under CI), in
// schemas of their own, dropped when they end.

// pgApp is the environment that makes the test application run its projections
// on PostgreSQL read models.
var pgApp = []string{fixture.PostgresEnv + "=1"}

// pgFiles is the fixture on PostgreSQL: the --store and --read URLs, and the
// schemas they name.
type pgFiles struct {
	fixture.Files
	storeSchema, readSchema string
}

// pgFixture builds the fixture on the PostgreSQL test server, in two new schemas.
func pgFixture(t *testing.T) pgFiles {
	t.Helper()
	base := pgtest.URL(t)
	store, read := pgtest.Schema(t), pgtest.Schema(t)
	if err := fixture.BuildPostgres(context.Background(), base, store, read); err != nil {
		t.Fatalf("build the fixture on PostgreSQL: %v", err)
	}
	return pgFiles{fixture.Files{Store: withURL(t, base, "schema", store), Read: withURL(t, base, "schema", read)}, store, read}
}

// withURL returns the PostgreSQL URL raw with query parameter key set to value,
// or with its user or database set to value when key is "user" or "database".
func withURL(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	switch key {
	case "user":
		u.User = url.User(value)
		return u.String()
	case "database":
		u.Path = "/" + value
		return u.String()
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// pgQuery returns the first column of the rows of query, as text.
func pgQuery(t *testing.T, query string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// balance reads an account's row of the balances view, as "moves total".
func (f pgFiles) balance(t *testing.T, account string) string {
	t.Helper()
	got := pgQuery(t, `SELECT moves || ' ' || total FROM `+pgx.Identifier{f.readSchema, "balances"}.Sanitize()+
		` WHERE account = '`+account+`'`)
	return strings.Join(got, ",")
}

// TestPostgresListingsMatchSQLite: every listing on the fixture built on
// PostgreSQL, as text and as JSON, prints what it prints on SQLite (the golden
// files, byte for byte); so do the application's projections listing and a clean
// reconciliation.
func TestPostgresListingsMatchSQLite(t *testing.T) {
	f := pgFixture(t)
	runListings(t, f.Files, sameAsGolden)
	r := app(t, f.Files, pgApp, "projections")
	if r.code != 0 {
		t.Fatalf("projections: exit status %d: %s", r.code, r.stderr)
	}
	sameAsGolden(t, "app-projections", r.stdout)
	for _, format := range []string{"", "--json"} {
		r = app(t, f.Files, pgApp, strings.Fields("reconcile ledger "+format)...)
		if r.code != 0 {
			t.Fatalf("reconcile %s: exit status %d: %s%s", format, r.code, r.stdout, r.stderr)
		}
		sameAsGolden(t, "reconcile-clean"+strings.ReplaceAll(format, "--", "."), r.stdout)
	}
}

// TestPostgresWrites: the commands that write work on PostgreSQL: a reconcile
// names planted mismatches and a rebuild removes them; parked retry applies the
// fixed event exactly once; reservations reconcile releases the stale claim.
func TestPostgresWrites(t *testing.T) {
	f := pgFixture(t)
	phys := func(table string) string { return pgx.Identifier{f.readSchema, table}.Sanitize() }
	pgtest.Exec(t, `UPDATE `+phys("balances_g1")+` SET total = total + 1000 WHERE account = 'account-b2';
		DELETE FROM `+phys("balances_g1")+` WHERE account = 'account-c3';
		INSERT INTO `+phys("balances_g1")+` (account, moves, total) VALUES ('account-zz', 1, 5)`)
	r := app(t, f.Files, pgApp, "reconcile", "balances")
	if r.code != 1 {
		t.Fatalf("reconcile: exit status %d, want 1: %s %s", r.code, r.stdout, r.stderr)
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
	r = app(t, f.Files, pgApp, "rebuild", "balances")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "rebuilt balances: generation 3 (version 1) is live") {
		t.Fatalf("rebuild: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := app(t, f.Files, pgApp, "reconcile", "balances"); r.code != 0 || !strings.Contains(r.stdout, "OK: the live read model") {
		t.Fatalf("reconcile after the rebuild: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if got := f.balance(t, "account-a1"); got != "3 130" {
		t.Fatalf("account-a1 before the retry: %s, want 3 130 (the poison deposit parked again by the rebuild)", got)
	}
	r = app(t, f.Files, append([]string{fixture.HealedEnv + "=1"}, pgApp...), "parked", "retry", "balances", parkedID)
	if r.code != 0 || !strings.Contains(r.stdout, "applied parked event "+parkedID+" of balances") {
		t.Fatalf("retry with the fix: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := app(t, f.Files, pgApp, "parked", "retry", "balances", parkedID); r.code != 1 || !strings.Contains(r.stderr, "parked event not found") {
		t.Fatalf("second retry: %d %q", r.code, r.stderr)
	}
	if got := f.balance(t, "account-a1"); got != "4 131" {
		t.Fatalf("account-a1 after the retries: %s, want 4 131 (applied once)", got)
	}
	r = idem(t, f.Files, "reservations", "reconcile")
	if r.code != 0 || !strings.HasSuffix(r.stdout, "released 1 stale claim\n") {
		t.Fatalf("reservations reconcile: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := idem(t, f.Files, "reservations", "--stale"); r.stdout != "no stale claims\n" {
		t.Fatalf("stale claims after: %q", r.stdout)
	}
}

// TestPostgresParkedSkip: skip unparks the event without applying it.
func TestPostgresParkedSkip(t *testing.T) {
	f := pgFixture(t)
	r := idem(t, f.Files, "parked", "skip", "balances", parkedID)
	if r.code != 0 || !strings.Contains(r.stdout, "it will not be applied") {
		t.Fatalf("skip: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if got := f.balance(t, "account-a1"); got != "3 130" {
		t.Fatalf("account-a1 after skip: %s, want 3 130", got)
	}
	if r := idem(t, f.Files, "parked", "list"); r.stdout != "no parked events\n" {
		t.Fatalf("parked list: %q", r.stdout)
	}
}

// TestPostgresReadOnlyRole: a role that may only read the schemas runs every
// listing (nothing they do writes, not even the store's schema check), and a
// command that must write the read model is refused before it starts, saying
// why.
func TestPostgresReadOnlyRole(t *testing.T) {
	f := pgFixture(t)
	role := pgtest.NewSchemaName("idem_reader")
	pgtest.Exec(t, `CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() { pgtest.Exec(t, `DROP OWNED BY `+role+`; DROP ROLE `+role) })
	for _, schema := range []string{f.storeSchema, f.readSchema} {
		pgtest.Exec(t, `GRANT USAGE ON SCHEMA `+schema+` TO `+role+`; GRANT SELECT ON ALL TABLES IN SCHEMA `+schema+` TO `+role)
	}
	reader := pgFiles{fixture.Files{Store: withURL(t, f.Store, "user", role), Read: withURL(t, f.Read, "user", role)}, f.storeSchema, f.readSchema}
	runListings(t, reader.Files, sameAsGolden)
	r := idem(t, reader.Files, "parked", "skip", "balances", parkedID)
	if r.code != 1 || !strings.Contains(r.stderr, "cannot be written: this role may not write schema") {
		t.Fatalf("skip as a reader: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := idem(t, f.Files, "parked", "list", "--json"); !strings.Contains(r.stdout, parkedID) {
		t.Fatalf("the parked event is gone: %s", r.stdout)
	}
}

// TestPostgresBadInput: an unreachable server, a schema without a store or a
// read model, a bad schema name, and an application whose projections write to
// SQLite each get a clear message, once, and the right exit status; a password
// is never shown.
func TestPostgresBadInput(t *testing.T) {
	f := pgFixture(t)
	down := "postgres://nobody:s3cret@127.0.0.1:1/none?connect_timeout=2"
	for _, c := range []struct {
		name string
		bin  string
		env  []string
		args []string
		code int
		says string
	}{
		{"unreachable store", idemBin, nil, []string{"--store", down, "streams"}, 1,
			"idem: event store postgres://nobody:xxxxx@127.0.0.1:1/none?connect_timeout=2: event store unavailable: "},
		{"unreachable read model", idemBin, nil, []string{"--store", f.Store, "--read", down, "parked", "list"}, 1,
			"read model postgres://nobody:xxxxx@127.0.0.1:1/none?connect_timeout=2: projection target unavailable: "},
		{"no store in the schema", idemBin, nil, []string{"--store", withURL(t, f.Store, "schema", "idem_none"), "streams"}, 1,
			`schema "idem_none" has no idem_schema_version table (give the schema with ?schema=NAME)`},
		{"the store's schema as read model", idemBin, nil, []string{"--store", f.Store, "--read", f.Store, "projections"}, 1,
			`schema "` + f.storeSchema + `" has no idem_projection_generations table`},
		{"bad schema name", idemBin, nil, []string{"--store", withURL(t, f.Store, "schema", "pg_catalog"), "streams"}, 2,
			`schema "pg_catalog"`},
		{"unknown parameter", idemBin, nil, []string{"--store", withURL(t, f.Store, "no_such_setting", "1"), "streams"}, 1,
			`FATAL: unrecognized configuration parameter "no_such_setting"`},
		{"unknown database", idemBin, nil, []string{"--store", withURL(t, f.Store, "database", "idem_no_such_db"), "streams"}, 1,
			`FATAL: database "idem_no_such_db" does not exist`},
		{"a SQLite application on a PostgreSQL read model", appBin, nil, []string{"--store", f.Store, "--read", f.Read, "rebuild", "ledger"}, 1,
			"cannot hold this application's projections: they write through *sqlitetarget.Tx"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.env, c.bin, c.args...)
			if r.code != c.code || strings.Count(r.stderr, c.says) != 1 {
				t.Fatalf("exit status %d, want %d; stderr %q, want it to say %q once", r.code, c.code, r.stderr, c.says)
			}
			if strings.Contains(c.says, "FATAL") && strings.Contains(r.stderr, "unavailable") {
				t.Fatalf("stderr %q: a server that refuses is not unavailable", r.stderr)
			}
			if strings.Contains(r.stderr, "s3cret") || r.stdout != "" {
				t.Fatalf("stdout %q, stderr %q: a password shown, or output on stdout", r.stdout, r.stderr)
			}
		})
	}
}

// TestPostgresOlderStoreSchema: a listing does not migrate a store's schema
// written by an older version (it would have to write): it says so.
func TestPostgresOlderStoreSchema(t *testing.T) {
	f := pgFixture(t)
	pgtest.Exec(t, `UPDATE `+pgx.Identifier{f.storeSchema, "idem_schema_version"}.Sanitize()+` SET version = version - 1`)
	r := idem(t, f.Files, "streams")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot be written: schema \""+f.storeSchema+"\" must be migrated to this version first") {
		t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
	}
}
