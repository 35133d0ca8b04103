package command

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// restore loads a's snapshot (G7). A missing snapshot, one of another state
// version, or one that does not decode is ignored: the state is rebuilt from
// events.
func (h *Handler[S, C, E]) restore(ctx context.Context, a *loaded[S]) error {
	snap, err := h.cfg.snapshots.LoadSnapshot(ctx, a.stream)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("load %s: %w", a.stream, ctx.Err())
		}
		if !errors.Is(err, ErrNoSnapshot) {
			h.log.Warn("idem: snapshot unreadable, rebuilding from events", "stream", a.stream, "err", err)
		}
		return nil
	}
	if snap.StateVersion != h.cfg.snapshotVersion || snap.Stream != a.stream {
		return nil
	}
	state, err := h.initial()
	if err != nil {
		return fmt.Errorf("load %s: %w", a.stream, err)
	}
	if err := h.codec.Serializer().Unmarshal(snap.State, &state); err != nil {
		h.log.Warn("idem: snapshot state does not decode, rebuilding from events", "stream", a.stream, "err", err)
		return nil
	}
	a.state, a.revision, a.exists = state, snap.Revision, true
	a.snapRevision, a.hasSnap = snap.Revision, true
	a.set = newProcessedSet(len(snap.Processed) + 8)
	for _, p := range snap.Processed {
		a.set.add(p)
	}
	return nil
}

// snapshotDue reports whether a (locked) has gained enough events since its last
// snapshot.
func (h *Handler[S, C, E]) snapshotDue(a *loaded[S]) bool {
	if h.cfg.snapshots == nil || !a.exists {
		return false
	}
	if !a.hasSnap {
		return a.revision+1 >= uint64(h.cfg.snapshotEvery)
	}
	return a.revision-a.snapRevision >= uint64(h.cfg.snapshotEvery)
}

// takeSnapshot builds a snapshot of a (locked) and marks it taken.
func (h *Handler[S, C, E]) takeSnapshot(a *loaded[S]) (Snapshot, error) {
	state, err := h.codec.Serializer().Marshal(a.state)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s at revision %d: encode state: %w", a.stream, a.revision, err)
	}
	a.snapRevision, a.hasSnap = a.revision, true
	return Snapshot{Stream: a.stream, Revision: a.revision, StateVersion: h.cfg.snapshotVersion,
		State: state, Processed: a.set.list(), TakenAt: h.cfg.now()}, nil
}

// saveSnapshot stores snap; a failure is logged: the events are stored already.
func (h *Handler[S, C, E]) saveSnapshot(ctx context.Context, snap Snapshot) {
	if err := h.cfg.snapshots.SaveSnapshot(ctx, snap); err != nil {
		h.log.Warn("idem: snapshot not saved", "stream", snap.Stream, "revision", snap.Revision, "err", err)
		return
	}
	h.stats.snapshots.Add(1)
}

// pruneWindow applies the dedupe window (G7) to s.
func (h *Handler[S, C, E]) pruneWindow(s *processedSet) {
	if h.cfg.windowCount == 0 && h.cfg.windowAge == 0 {
		return
	}
	var cutoff time.Time
	if h.cfg.windowAge > 0 {
		cutoff = h.cfg.now().Add(-h.cfg.windowAge)
	}
	s.prune(h.cfg.windowCount, cutoff)
}
