// Package readopts holds the resolved form of eventstore.ReadOption, shared by
// eventstore (which builds it) and eventstore/backend (which hands it to backends).
package readopts

import "strings"

// Options is the resolved form of a list of eventstore.ReadOption.
type Options struct {
	// Backwards reads a stream from its end towards revision 0 (ReadStream only).
	Backwards bool
	// Limit caps the number of events returned; 0 means no limit.
	Limit int
	// StreamPrefixes keeps only events whose stream name starts with one of them
	// (ReadAll and SubscribeAll only). Empty keeps all.
	StreamPrefixes []string
	// EventTypes keeps only events of these types (ReadAll and SubscribeAll only).
	// Empty keeps all.
	EventTypes []string
}

// HasFilter reports whether o filters by stream prefix or event type.
func (o Options) HasFilter() bool { return len(o.StreamPrefixes) > 0 || len(o.EventTypes) > 0 }

// Matches reports whether an event of the given stream and type passes o's filters:
// the rule every backend applies.
func (o Options) Matches(stream, eventType string) bool {
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
