package ops_test

import (
	"context"
	"strings"
	"testing"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/esdb"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
)

// TestStoreListingsOnEventStoreDB: --store takes an EventStoreDB URL; streams,
// with no stream index to read there, are listed by reading the log.
func TestStoreListingsOnEventStoreDB(t *testing.T) {
	srv := esdbtest.Start(t)
	ctx := context.Background()
	s, err := esdb.Open(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, stream := range []string{"order-1", "order-2", "order-1"} {
		m := command.Metadata{CommandID: "c" + string(rune('1'+i)), Fingerprint: "fp", Index: 0, Count: 1}
		ev := eventstore.EventData{ID: command.EventID(stream, m.CommandID, 0), Type: "Placed", Data: []byte(`{}`), Metadata: m.Encode()}
		if _, err := s.Append(ctx, stream, eventstore.Any(), ev); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, nil, idemBin, "--store", srv.URL(), "streams", "--category", "order")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || strings.Join(strings.Fields(lines[1])[:3], " ") != "order-1 2 1" ||
		strings.Join(strings.Fields(lines[2])[:3], " ") != "order-2 1 0" {
		t.Fatalf("streams: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, idemBin, "--store", srv.URL(), "command", "c3", "--stream", "order-1")
	if r.code != 0 || !strings.Contains(r.stdout, `command "c3": processed in order-1, applied`) {
		t.Fatalf("command: %d %q %q", r.code, r.stdout, r.stderr)
	}
}
