// Package storetest is the conformance suite of the eventstore contract. Every idem
// backend (memory, SQLite, EventStoreDB) runs it, and so should yours: a store that
// passes it keeps the guarantees idem's command handler and projections rely on.
//
// To test a backend, call Run from a test with a factory that returns a new, empty
// store and registers its cleanup:
//
//	package mystore_test
//
//	import (
//		"testing"
//
//		"github.com/idemkit/idem/eventstore"
//		"github.com/idemkit/idem/eventstore/storetest"
//		"example.com/mystore"
//	)
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) eventstore.Store {
//			s, err := mystore.Open(t.TempDir() + "/events.db")
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { _ = s.Close() }) // may run after the test closed s
//			return s
//		}, storetest.MaxAppendSize(mystore.DefaultMaxAppendSize))
//	}
//
// Run then runs one subtest per case, each against a fresh store, grouped as
// Append, Idempotency, Concurrency, ReadStream, ReadAll, Subscribe, Context, Input,
// RoundTrip and Close; run one group or case with -run, e.g.
// go test -run 'TestConformance/Idempotency/RetryExact'.
//
// What the suite covers, in short: every ExpectedRevision case against a missing
// and a populated stream, with the typed conflict's fields and message (G1);
// lost-ack retries that return the original result and write nothing, and partial
// retries that are refused (G2); event ids scoped per stream; atomic appends; 32
// goroutines racing with Exact and NoStream, exactly one winning; stream reads
// forwards and backwards with limits; the global log in commit order with
// after-exclusive positions, limits, stream-prefix and event-type filters, and text
// round trips of positions; catch-up subscriptions racing concurrent writers with no
// gap and no repeat, filtered, from the middle, and ending on cancel, on a consumer
// that stops ranging, and on Close; cancelled contexts; invalid names, events and
// sizes (G11); byte-exact payloads; and ErrClosed after Close. Head is checked when
// the store implements eventstore.HeadReader.
//
// The suite writes to streams named with a prefix unique to each subtest and reads
// the global log filtered to that prefix, so a backend whose stores share one
// server (and carry system events) can still pass; only the invalid-stream-name test
// counts the whole log. Options adapt the load and timeouts to slow backends
// (Concurrency, SubscriptionLoad, Timeout, ClockTolerance) and tell the suite the
// store's size limit (MaxAppendSize). The whole suite appends a few hundred times;
// on a durable store each append is a sync, so it stays quick.
package storetest
