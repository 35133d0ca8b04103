// Package aggregate is the pure side of idem: typed deciders, the codec that names
// and upcasts event types, stream names and keyed identities. It does no I/O; the
// command package does it around these pieces.
//
//   - Decider[S, C, E]. An aggregate is three pure functions over its state S, its
//     commands C and its events E (the domain's own types, usually sealed
//     interfaces): Initial, Evolve and Decide, plus optional uniqueness Keys. A
//     command or event of the wrong type is a compile error.
//   - Codec[C, E]. Every event and command type is registered with an explicit
//     name (Event, Command), per codec: no global registry, no name derived by
//     reflection, so renaming a Go type never renames stored events. Events stored
//     under an older name or shape decode into today's types through pure,
//     chained upcasters (Upcast, Alias): "never rename an event without an
//     upcaster" is something the codec makes possible.
//   - Stream names are Category + "-" + id (StreamName); KeyedID derives an
//     aggregate id from a business key, so every command for one key meets in one
//     stream and its NoStream append detects a second creation atomically (G5).
//   - Business-key duplicates. Decide returns AlreadyDone(key) to say "this
//     business fact was already handled": the handler answers success with no
//     events and counts a duplicate by business key (G5).
//
// See docs/guarantees.md for what each guarantee promises and the test that proves
// it.
package aggregate
