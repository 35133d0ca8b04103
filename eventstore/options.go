package eventstore

import "strings"

// ReadOption configures ReadStream, ReadAll and SubscribeAll.
type ReadOption func(*ReadOptions)

// ReadOptions is the resolved form of a list of ReadOption. Backends call
// ResolveReadOptions to get it.
type ReadOptions struct {
	// Backwards reads a stream from its end towards revision 0 (ReadStream only).
	Backwards bool
	// Limit caps the number of events returned; 0 means no limit (reads only).
	Limit int
	// StreamPrefixes keeps only events whose stream name starts with one of them
	// (ReadAll and SubscribeAll only). Empty keeps all.
	StreamPrefixes []string
	// EventTypes keeps only events of these types (ReadAll and SubscribeAll only).
	// Empty keeps all.
	EventTypes []string
}

// Backwards makes ReadStream read from the given revision (or StreamEnd) down to 0.
func Backwards() ReadOption { return func(o *ReadOptions) { o.Backwards = true } }

// Limit caps a read at n events; n <= 0 means no limit.
func Limit(n int) ReadOption {
	return func(o *ReadOptions) {
		if n < 0 {
			n = 0
		}
		o.Limit = n
	}
}

// StreamPrefix keeps only events whose stream name starts with one of prefixes.
func StreamPrefix(prefixes ...string) ReadOption {
	return func(o *ReadOptions) { o.StreamPrefixes = append(o.StreamPrefixes, prefixes...) }
}

// EventTypes keeps only events of the given types.
func EventTypes(types ...string) ReadOption {
	return func(o *ReadOptions) { o.EventTypes = append(o.EventTypes, types...) }
}

// ResolveReadOptions applies opts in order.
func ResolveReadOptions(opts []ReadOption) ReadOptions {
	var o ReadOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// HasFilter reports whether o filters by stream prefix or event type.
func (o ReadOptions) HasFilter() bool { return len(o.StreamPrefixes) > 0 || len(o.EventTypes) > 0 }

// Matches reports whether an event of the given stream and type passes o's filters.
func (o ReadOptions) Matches(stream, eventType string) bool {
	if len(o.StreamPrefixes) > 0 {
		ok := false
		for _, p := range o.StreamPrefixes {
			if strings.HasPrefix(stream, p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(o.EventTypes) > 0 {
		for _, t := range o.EventTypes {
			if t == eventType {
				return true
			}
		}
		return false
	}
	return true
}
