package esdb_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/esdb"
	"github.com/idemkit/idem/eventstore/storetest"
)

// realServerEnv names a real EventStoreDB / KurrentDB server to run the suites
// against, e.g. IDEM_ESDB_URL="esdb://127.0.0.1:2113?tls=false".
const realServerEnv = "IDEM_ESDB_URL"

// suiteMaxAppendSize is idem's append limit in the conformance runs: 1 KiB under the
// server's 1 MiB, because the server counts each event type twice and the suite
// appends exactly the limit (type + data + metadata) and expects success.
const suiteMaxAppendSize = esdb.DefaultServerMaxAppendSize - 1024

// TestConformanceEmulated runs the whole storetest suite against the adapter through
// the in-process emulator, with a fresh emulator (and so an empty $all) per subtest.
func TestConformanceEmulated(t *testing.T) {
	t.Log("esdb conformance: emulated wire protocol (eventstore/esdb/esdbtest); not verified against a real server in this run")
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		st, _ := openEmulated(t, esdb.WithMaxAppendSize(suiteMaxAppendSize))
		return st
	}, storetest.MaxAppendSize(suiteMaxAppendSize), storetest.UnknownOutcomes())
}

// TestConformanceRealServer runs the suite against the server IDEM_ESDB_URL names.
func TestConformanceRealServer(t *testing.T) {
	url := os.Getenv(realServerEnv)
	if url == "" {
		t.Skipf("%s is not set: no real EventStoreDB/KurrentDB server; only the emulated wire protocol was tested", realServerEnv)
	}
	t.Logf("esdb conformance: real server at %s", url)
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		st, err := esdb.Open(context.Background(), url, esdb.WithLogger(quiet), esdb.WithMaxAppendSize(suiteMaxAppendSize))
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}, storetest.MaxAppendSize(suiteMaxAppendSize), storetest.UnknownOutcomes(), storetest.Timeout(30*time.Second), storetest.ClockTolerance(5*time.Minute))
}
