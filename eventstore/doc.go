// Package eventstore defines idem's event store contract: the types every backend
// speaks (EventData, RecordedEvent, Position, ExpectedRevision), the Store interface,
// and the typed errors a caller can match with errors.Is and errors.As.
//
// The contract, kept identically by every backend (see eventstore/storetest):
//
//   - Optimistic concurrency (G1). Every append states an ExpectedRevision; a
//     mismatch fails with *WrongExpectedRevisionError, which matches
//     ErrWrongExpectedRevision and carries the expected and the actual revision.
//     An append is atomic: all of its events are written or none.
//   - Idempotent appends (G2), the rule EventStoreDB applies natively. When an
//     append states Exact(n) or NoStream and every one of its event ids is already
//     stored as the events that directly follow that revision, in the same order, the
//     append succeeds, writes nothing and returns the original AppendResult. A partial
//     match, or ids that differ, fail with ErrWrongExpectedRevision: never a half-write.
//     Ids are checked within a stream, not across streams. With Any and StreamExists
//     the check is best effort (as on EventStoreDB): a retry is recognised when its ids
//     are the stream's last events.
//   - Positions. Every recorded event has a Position in the global log; positions only
//     grow in commit order, but need not be contiguous.
//   - Bad input (G11). Invalid stream names, invalid events, oversize appends,
//     cancelled contexts and closed stores fail with typed errors and write nothing.
package eventstore
