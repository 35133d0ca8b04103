// Package command handles commands against event-sourced aggregates so that a command
// delivered twice, by two consumers at once, or retried after an unknown outcome
// changes the aggregate once (G3-G7, G12 in docs/guarantees.md).
//
// A Handler[S, C, E] runs one kind of aggregate: its aggregate.Decider and
// aggregate.Codec. Handle takes a Command[C], the envelope of a C. Its path, and the
// guarantee each step keeps:
//
//   - Validate (G11). An empty or oversize command id, a nil payload, an invalid
//     aggregate id, text that is not UTF-8, a payload type the codec does not know,
//     a payload larger than the append limit (refused before it is encoded), a
//     cancelled context: typed errors, nothing written.
//   - Load. The latest snapshot (if configured and of the code's schema version), then
//     the events after it: O(events since the snapshot). Folding the events rebuilds
//     the state and the processed command set, command id -> (fingerprint, first and
//     last revision), from the event metadata (G3). An optional cache of recent
//     aggregates skips the load; a stale cache entry is caught by the Exact append.
//   - One command per aggregate at a time (G4 within one handler). The commands of
//     one stream take turns, first come first served; a command waiting for its
//     turn gives up when its context ends. The next command decides on the
//     aggregate the previous one left (the cached one, or, without a cache, the one
//     handed over and caught up), so commands of one process never conflict with
//     each other, and a second delivery of a command finds it recorded by the first:
//     exactly one caller is told it applied it. Commands of different aggregates run
//     in parallel; an aggregate's turn is forgotten when no command waits for it.
//   - Catch-up. Whenever the handler knows an aggregate at some revision (cached,
//     handed over, or read before a failed append) it reads only the events after
//     that revision (O(new events)), folded into a copy: a cached aggregate is never
//     changed in place by a read, so a catch-up that fails leaves it as it was.
//   - Dedupe (G3). A command id already in the set with the same fingerprint returns
//     the original result, its events and revision, with Duplicate true, and writes
//     nothing. The same id with another fingerprint fails with
//     *IdempotencyKeyReusedError: a misused key is loud. Metadata that claims to be a
//     command's record but cannot be read fails the load with eventstore.ErrCorrupt:
//     nothing is decided on a processed set known to be incomplete.
//   - Decide and append. Events carry Metadata (command id, fingerprint, correlation
//     and causation ids, and on the first event the id of the append attempt).
//     Event ids are derived from the stream, the command id, the fingerprint and
//     the event's index, so an append retried after an unknown outcome is recognised
//     by the store (G2). The append states Exact(n) or NoStream, never Any:
//     EventStoreDB's id-based idempotency only holds then. Evolve sees the events as
//     the codec decodes them, so a cached state equals a reloaded one.
//   - Who applied it (G4). A store answers an identical append that was already
//     stored as Replayed: the handler answers it as a duplicate with the original
//     result. After an append whose outcome was unknown, the attempt id tells the
//     handler whether the events it then finds are its own (applied) or another
//     handler's (duplicate). On EventStoreDB, which cannot tell a replay from a
//     write, the handler reads the first event back after each append to know.
//   - Conflicts (G4), which now come only from other processes (or handlers). On a
//     wrong expected revision, or an append whose outcome is unknown, the handler
//     waits a jittered backoff, then catches the aggregate up; if the command is now
//     recorded, another consumer won the race and this call returns the duplicate
//     result; otherwise it decides again, up to WithRetries times, then fails with
//     *RetriesExhaustedError wrapping the last conflict.
//   - Panics (G11). A panic in Initial, Evolve, Decide or Keys fails the call with
//     *idem.PanicError, which names the function and keeps the stack; nothing is
//     written.
//   - Rejections and no-ops (G6). By default neither writes anything: a rejected
//     command's retry is decided afresh (it may succeed once the state allows it), and
//     a no-op costs no write. WithRecordedRejections and WithRecordedNoOps write a marker event
//     instead, so a retry gets the same answer even after the state changed; the cost
//     is a write per rejection and a longer stream.
//   - Dedupe window (G7). Every processed command id is kept for the life of the
//     stream unless WithDedupeWindow or WithDedupeMaxAge bound the set by count or age. A duplicate older
//     than the window is decided afresh: it falls back to the aggregate's business
//     keys (Decide returning aggregate.AlreadyDone), so bound the window only for
//     aggregates whose commands are idempotent by business key.
//   - Reservations (G5). When the decider lists keys (Decider.Keys), they are claimed
//     in reservation streams before the append; see package reservation.
//   - Counters (G12). Stats returns a plain snapshot of atomic counters.
package command
