package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestStreamsQueryPlan: listing streams reads the UNIQUE (stream, revision) index
// only (a covering scan, in order: no sort), then seeks each stream's last row by
// the same index; it never scans the table or sorts in a temporary b-tree.
func TestStreamsQueryPlan(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+streamsQuery, "", "invoice-", "invoice.", 500)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := strings.Join(plan, "\n")
	t.Logf("plan:\n%s", text)
	for _, want := range []string{"USING COVERING INDEX sqlite_autoindex_events_1", "SEARCH e USING INDEX sqlite_autoindex_events_1 (stream=? AND revision=?)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan does not say %q", want)
		}
	}
	for _, bad := range []string{"TEMP B-TREE", "SCAN events\n", "SCAN e\n"} {
		if strings.Contains(text+"\n", bad) {
			t.Errorf("the plan says %q", bad)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct {
		prefix, want string
		ok           bool
	}{
		{"", "", false},
		{"invoice-", "invoice.", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
	} {
		got, ok := prefixEnd(c.prefix)
		if got != c.want || ok != c.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", c.prefix, got, ok, c.want, c.ok)
		}
	}
}
