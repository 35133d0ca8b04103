package backend

import (
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/internal/readopts"
)

// ReadOptions is the resolved form of a list of eventstore.ReadOption: Backwards,
// Limit, StreamPrefixes and EventTypes, with HasFilter and Matches.
type ReadOptions = readopts.Options

// ResolveReadOptions applies opts in order; nil options are skipped.
func ResolveReadOptions(opts []eventstore.ReadOption) ReadOptions {
	var o ReadOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}
