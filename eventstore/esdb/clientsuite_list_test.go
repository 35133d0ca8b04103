package esdb_test

// What of EventStore-Client-Go's own esdb test suite runs against the emulator, and
// why the rest does not: the one place that says so. TestClientSuite checks that
// every name here exists in the client's sources, that every rewrite named here
// exists in esdbtest, and that no test of the client's is left unaccounted for.

// clientSuiteRuns are the client's top-level tests that run, in single-node insecure
// mode (EVENTSTORE_INSECURE=true, CLUSTER unset), less the subtests in notRun.
var clientSuiteRuns = []string{"TestStreams", "TestExpectations"}

// Why tests do not run. A feature the emulator does not claim is in its package
// documentation (esdbtest/server.go).
const (
	needsDataset = "needs the server image's pre-populated dataset (resources/test/*.json: exact ids, " +
		"timestamps and $all positions of events the image holds)"
	needsTLSAuth      = "needs TLS and authentication, which the emulator does not implement"
	needsPersistent   = "needs persistent subscriptions, which the emulator does not implement"
	needsProjections  = "needs projections, which the emulator does not implement"
	needsNoServer     = "needs no server: it tests the client's parsing only"
	needsClientCerts  = "needs TLS with client certificates (the user-certificates plugin), which the emulator does not implement"
	needsClusterNodes = "needs a three-node TLS cluster with gossip (CLUSTER=true), which the emulator does not implement"
)

// notRunTest is a test, or a group of tests, that does not run.
type notRunTest struct {
	// test is a top-level test name, a name ending in "*" for every top-level test
	// with that prefix, or a subtest path under clientSuiteRuns.
	test   string
	reason string
	// rewrite names idem's own test of the same behaviour, in esdbtest, written
	// against data the test writes to the emulator.
	rewrite string
}

var notRun = []notRunTest{
	// Top-level tests.
	{test: "TestPersistentSubscriptions", reason: needsPersistent},
	{test: "TestProjections", reason: needsProjections},
	{test: "TestPlugins", reason: needsClientCerts},
	{test: "TestMisc", reason: needsNoServer},
	{test: "TestConnectionString*", reason: needsNoServer},
	{test: "TestPositionParsing", reason: needsNoServer},
	{test: "TestConsistentMetadataSerialization*", reason: needsNoServer},
	{test: "TestCustomPropertyRetrievalFromStreamMetadata", reason: needsNoServer},
	{test: "TestUnknownCustomPropertyRetrievalFromStreamMetadata", reason: needsNoServer},
	{test: "TestGetAllCustomPropertiesFromStreamMetadata", reason: needsNoServer},

	// Subtests of TestStreams and TestExpectations.
	{test: "TestStreams/AppendTests/appendToSystemStreamWithIncorrectCredentials", reason: needsTLSAuth},
	{test: "TestStreams/ReadStreamTests/readStreamWithCredentialsOverride", reason: needsTLSAuth},
	{test: "TestStreams/AuthenticationTests/callInsecureWithoutCredentials", reason: needsPersistent},
	{test: "TestStreams/AuthenticationTests/callInsecureWithInvalidCredentials", reason: needsPersistent},
	{test: "TestStreams/ReadStreamTests/readStreamEventsForwardsFromZeroPosition", reason: needsDataset,
		rewrite: "TestReadStreamForwardsFromStartCarriesEveryField"},
	{test: "TestStreams/ReadStreamTests/readStreamEventsBackwardsFromEndPosition", reason: needsDataset,
		rewrite: "TestReadStreamBackwardsFromEnd"},
	{test: "TestStreams/SubscriptionTests/streamSubscriptionDeliversAllEventsInStreamAndListensForNewEvents", reason: needsDataset,
		rewrite: "TestStreamSubscriptionCatchesUpThenGoesLive"},
	{test: "TestStreams/SubscriptionTests/allSubscriptionWithFilterDeliversCorrectEvents", reason: needsDataset,
		rewrite: "TestAllSubscriptionFiltersByEventTypePrefix"},
	{test: "TestStreams/SubscriptionTests/connectionClosing", reason: needsDataset,
		rewrite: "TestClosingASubscriptionDropsIt"},
	{test: "TestStreams/SubscriptionTests/subscriptionToStreamCaughtUpMessage", reason: needsDataset,
		rewrite: "TestStreamSubscriptionCaughtUpAfterTheLastEvent"},
	{test: "TestExpectations/ReadAllTests/readAllEventsForwardsFromZeroPosition(", reason: needsDataset,
		rewrite: "TestReadAllForwardsFromStart"},
	{test: "TestExpectations/ReadAllTests/readAllEventsForwardsFromNonZeroPosition", reason: needsDataset,
		rewrite: "TestReadAllForwardsFromAPositionIsInclusive"},
	{test: "TestExpectations/ReadAllTests/readAllEventsBackwardsFromZeroPosition", reason: needsDataset,
		rewrite: "TestReadAllBackwardsFromEnd"},
	{test: "TestExpectations/ReadAllTests/readAllEventsBackwardsFromNonZeroPosition", reason: needsDataset,
		rewrite: "TestReadAllBackwardsFromAPositionIsExclusive"},
}

// Tests the client's suite calls only in modes the harness does not use, so they
// never start: TLSTests and SecureAuthenticationTests (EVENTSTORE_INSECURE=false)
// need TLS and authentication; ClusterTests (CLUSTER=true) needs a cluster.
var notStarted = []notRunTest{
	{test: "TLSTests", reason: needsTLSAuth},
	{test: "SecureAuthenticationTests", reason: needsTLSAuth},
	{test: "ClusterTests", reason: needsClusterNodes},
}
