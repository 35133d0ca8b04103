package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/idemkit/idem/eventstore/sqlite"
)

// tableSQL returns the CREATE statements of the tables in the database at path,
// by name, with whitespace collapsed.
func tableSQL(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite3", sqliteDSN(path, SyncNormal, "immediate"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	space := regexp.MustCompile(`\s+`)
	tables := map[string]string{}
	for rows.Next() {
		var name, stmt string
		if err := rows.Scan(&name, &stmt); err != nil {
			t.Fatal(err)
		}
		stmt = strings.Replace(stmt, "IF NOT EXISTS ", "", 1)
		tables[name] = strings.TrimSuffix(space.ReplaceAllString(strings.TrimSpace(stmt), " "), ";")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// The raw baselines are only a fair floor if they write what idem writes: the
// same events table, and no table idem writes besides it.
func TestRawSchemaIsIdemsEventsTable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	idemPath, rawPath := filepath.Join(dir, "idem.db"), filepath.Join(dir, "raw.db")
	st, err := sqlite.Open(ctx, idemPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := openRaw(ctx, rawPath, SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()

	idemTables, rawTables := tableSQL(t, idemPath), tableSQL(t, rawPath)
	// idem_snapshots is written only when a handler takes a snapshot, which the
	// append workloads compared against the raw baselines never do.
	delete(idemTables, "idem_snapshots")
	if len(idemTables) != 1 || idemTables["events"] == "" {
		t.Fatalf("idem's store has tables %v; the raw baselines write only events", keys(idemTables))
	}
	if idemTables["events"] != rawTables["events"] {
		t.Fatalf("events table differs:\nidem: %s\nraw:  %s", idemTables["events"], rawTables["events"])
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
