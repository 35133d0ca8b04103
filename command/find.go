package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/idemkit/idem/eventstore"
)

// finderOf returns the store's EventFinder, or nil when it has none.
func (h *Handler[S, C, E]) finderOf() eventstore.EventFinder {
	if f := h.finder.Load(); f != nil {
		return *f
	}
	return nil
}

// lookUp asks the store whether command id is recorded in stream, by the id of its
// first event (G3: event ids are derived from the command id), without reading the
// stream. found is false when the store cannot tell (it has no EventFinder).
func (h *Handler[S, C, E]) lookUp(ctx context.Context, stream, id string) (p ProcessedCommand, events []eventstore.RecordedEvent, found bool, err error) {
	f := h.finderOf()
	if f == nil {
		return p, nil, false, nil
	}
	h.stats.lookups.Add(1)
	h.tel.lookups.Add(ctx, 1, h.tel.byCategory)
	first, err := f.FindEvent(ctx, stream, EventID(stream, id, 0))
	switch {
	case errors.Is(err, eventstore.ErrEventNotFound):
		return p, nil, false, nil
	case errors.Is(err, errors.ErrUnsupported):
		// A wrapper over a store that cannot find events: stop asking.
		h.finder.Store(nil)
		return p, nil, false, nil
	case err != nil:
		return p, nil, false, fmt.Errorf("look up command in %s: %w", stream, err)
	}
	m, err := DecodeMetadata(first.Metadata)
	if err != nil || m.CommandID != id {
		return p, nil, false, fmt.Errorf("look up command in %s: event %s at revision %d: %w: not the command's record",
			stream, first.ID, first.Revision, eventstore.ErrCorrupt)
	}
	events = []eventstore.RecordedEvent{first}
	if m.Count > 1 {
		if events, err = h.readRange(ctx, stream, first.Revision, first.Revision+uint64(m.Count)-1); err != nil {
			return p, nil, false, fmt.Errorf("look up command in %s: %w", stream, err)
		}
	}
	p, err = recordOf(events)
	return p, events, err == nil, err
}
