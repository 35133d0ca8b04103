package esdb_test

// This file stands in for EventStore-Client-Go's containers_test.go when idem runs
// the client's own esdb tests against its emulator (eventstore/esdb/clientsuite_test.go
// copies the client's test files next to it, in a temporary module). Where the
// client's file starts a Docker image per database, this one starts an in-process
// esdbtest server; it defines every name the client's other test files take from
// containers_test.go, and nothing else.

import (
	"os"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
)

// Container is a running emulator where the client's tests expect a container.
type Container struct {
	Endpoint string
	srv      *esdbtest.Server
}

// Close stops the emulator.
func (c *Container) Close() { c.srv.Close() }

// streamNames makes unique stream and group names, as the client's name generator does.
type streamNames struct{}

// Generate returns a name no other test uses.
func (streamNames) Generate() string { return "clientsuite-" + uuid.NewString() }

// NAME_GENERATOR is the generator the client's tests call; its name is theirs.
var NAME_GENERATOR streamNames

// GetEnvOrDefault reads an environment variable. The harness pins the ones the
// client's tests branch on: EVENTSTORE_INSECURE=true, CLUSTER=false.
func GetEnvOrDefault(key, defaultValue string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return defaultValue
}

// IsESDBVersion20 is false: the emulator reports version 24.10.
func IsESDBVersion20() bool { return false }

// CreateClient returns a client for connStr.
func CreateClient(connStr string, t *testing.T) *esdb.Client {
	cfg, err := esdb.ParseConnectionString(connStr)
	if err != nil {
		t.Fatalf("parse connection string %q: %v", connStr, err)
	}
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	return c
}

// GetClient returns a new client for the emulator behind container, without TLS.
func GetClient(t *testing.T, container *Container) *esdb.Client {
	return CreateClient("esdb://"+container.Endpoint+"?tls=false", t)
}

// CreateEmptyDatabase starts an emulator and returns a client for it.
func CreateEmptyDatabase(t *testing.T) (*Container, *esdb.Client) {
	srv := esdbtest.Start(t)
	c := &Container{Endpoint: srv.Addr(), srv: srv}
	return c, GetClient(t, c)
}

// CreatePopulatedDatabase starts an empty emulator too: it has no copy of the
// server image's dataset, and the tests that need it are not run (the harness
// lists them, with idem's own tests of the same behaviour).
func CreatePopulatedDatabase(t *testing.T) (*Container, *esdb.Client) {
	return CreateEmptyDatabase(t)
}

// WaitForAdminToBeAvailable returns at once: the emulator answers as soon as it has
// started, and has no users.
func WaitForAdminToBeAvailable(t *testing.T, db *esdb.Client) {}

// WaitForLeaderToBeElected returns at once: the emulator is a single node.
func WaitForLeaderToBeElected(t *testing.T, db *esdb.Client) {}
