package brokers

import (
	"context"

	"github.com/idemkit/idem/projection"
)

// This file is the relay's one dependency on package projection: the reactor
// seam may change shape, the relay does not.

// Reactor returns a projection reactor named name that publishes every event it
// receives (select them with EventTypes and StreamPrefixes on the result). The
// runner moves the reactor's checkpoint only after Handle returned, and Handle
// returns only once the broker acknowledged the event (Publish), so a crash
// between the publication and the checkpoint publishes the event again, under
// the same id: at least once, deduplicated downstream (G10). Publish retries
// until the broker answers, so an outage pauses the relay instead of parking
// events: a parked event would be skipped by the checkpoint and never published.
func (r *Relay) Reactor(name string) projection.Reactor {
	return projection.Reactor{Name: name, Handle: func(ctx context.Context, e projection.ReactorEvent) error {
		return r.Publish(ctx, e.RecordedEvent)
	}}
}
