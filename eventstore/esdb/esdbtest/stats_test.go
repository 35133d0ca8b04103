package esdbtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
)

func TestStatsStreamIsNamedAfterTheNode(t *testing.T) {
	srv := esdbtest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	if want := "$stats-" + srv.Addr(); srv.StatsStream() != want {
		t.Fatalf("StatsStream() = %q, want %q", srv.StatsStream(), want)
	}
	appendN(t, c, "a", 1)
	appendN(t, c, "b", 1)
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}}, 100)
	if err != nil {
		t.Fatal(err)
	}
	all, err := readAll(t, rs)
	if err != nil {
		t.Fatal(err)
	}
	first := all[0].Event
	if first.StreamID != "$$"+srv.StatsStream() || first.EventType != "$metadata" || string(first.Data) != `{"$maxAge":864000}` {
		t.Fatalf("first record of $all: %s %s %s; want the stats stream's metadata", first.StreamID, first.EventType, first.Data)
	}
	stats := 0
	for _, e := range all {
		if e.Event.EventType == "$statsCollected" {
			if e.Event.StreamID != srv.StatsStream() {
				t.Fatalf("$statsCollected in %q, want %q", e.Event.StreamID, srv.StatsStream())
			}
			stats++
		}
	}
	if stats < 2 {
		t.Fatalf("%d $statsCollected events; want one at start and one after two appends", stats)
	}
	m, err := c.GetStreamMetadata(ctx, srv.StatsStream(), esdb.ReadStreamOptions{})
	if err != nil || m.MaxAge() == nil || *m.MaxAge() != 10*24*time.Hour {
		t.Fatalf("stats stream metadata: %+v, %v; want $maxAge 10 days", m, err)
	}
}
