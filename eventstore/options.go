package eventstore

import "github.com/idemkit/idem/eventstore/internal/readopts"

// ReadOption configures ReadStream, ReadAll and SubscribeAll: Backwards, Limit,
// StreamPrefix, EventTypes. An option that does not apply to a read makes it fail
// with ErrInvalidReadOption.
type ReadOption func(*readopts.Options)

// Backwards makes ReadStream read from the given revision (or StreamEnd) down to 0.
func Backwards() ReadOption { return func(o *readopts.Options) { o.Backwards = true } }

// Limit caps a read at n events; n <= 0 means no limit.
func Limit(n int) ReadOption {
	return func(o *readopts.Options) { o.Limit = max(n, 0) }
}

// StreamPrefix keeps only events whose stream name starts with one of prefixes
// (ReadAll and SubscribeAll).
func StreamPrefix(prefixes ...string) ReadOption {
	return func(o *readopts.Options) { o.StreamPrefixes = append(o.StreamPrefixes, prefixes...) }
}

// EventTypes keeps only events of the given types (ReadAll and SubscribeAll).
func EventTypes(types ...string) ReadOption {
	return func(o *readopts.Options) { o.EventTypes = append(o.EventTypes, types...) }
}
