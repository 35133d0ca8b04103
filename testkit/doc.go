// Package testkit makes tests of idem aggregates read like the domain and prove
// the thing idem exists for: a command delivered twice changes the aggregate once.
//
// Aggregate runs given-when-then scenarios against the real command handler on an
// in-memory store (this is ExampleAggregate):
//
//	testkit.Aggregate(t, paymentDecider(nil), paymentCodec()).
//		Given(Authorized{Amount: 100}).
//		When(Capture{Reference: "cap-1", Amount: 60}).
//		Then(Captured{Reference: "cap-1", Amount: 60}).
//		When(Capture{Reference: "cap-2", Amount: 50}).
//		ThenError(ErrOverCapture)
//
// GivenStored records an event as older code stored it, to test the codec's
// upcasters; State loads the aggregate as it stands.
//
// Every Then, ThenNothing and ThenError also re-delivers the step's command, with
// the same id, as it would arrive again from a queue (its payload decoded from its
// encoded form), and fails the test unless the redelivery is answered from what
// the first delivery did and writes nothing (G3, G6). Every given, expected
// and sent value is round-tripped through the codec, so a field the codec loses or
// a type it does not know fails the test where it is written, not in production.
//
// Failures name the step and show the expected and actual events side by side with
// a diff. Related packages: testkit/faults wraps a store with deterministic faults
// (Aggregate accepts it through WithStore), testkit/delivery simulates at-least-once
// delivery to concurrent consumers, and eventstore/storetest is the conformance
// suite for store backends. See docs/testing.md.
package testkit
