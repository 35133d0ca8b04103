package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// restore loads a's snapshot (G7). A missing snapshot, one of another state
// version, or one that does not decode is ignored: the state is rebuilt from
// events. A snapshot without the processed set (the store finds commands by id)
// leaves a's set partial: commands older than the snapshot are looked up.
func (h *Handler[S, C, E]) restore(ctx context.Context, a *loaded[S]) error {
	snap, err := h.cfg.snapshots.LoadSnapshot(ctx, a.stream)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("load %s: %w", a.stream, ctx.Err())
		}
		if !errors.Is(err, eventstore.ErrNoSnapshot) {
			h.log.Warn("idem: snapshot unreadable, rebuilding from events", "stream", a.stream, "err", err)
		}
		return nil
	}
	rec, err := decodeSnapshotRecord(snap.Data)
	if err != nil {
		h.log.Warn("idem: snapshot does not decode, rebuilding from events", "stream", a.stream, "err", err)
		return nil
	}
	if rec.Version != h.cfg.snapshotVersion || snap.Stream != a.stream || (!rec.Complete && h.finderOf() == nil) {
		return nil
	}
	state, err := h.initial()
	if err != nil {
		return fmt.Errorf("load %s: %w", a.stream, err)
	}
	if err := h.codec.Serializer().Unmarshal(rec.State, &state); err != nil {
		h.log.Warn("idem: snapshot state does not decode, rebuilding from events", "stream", a.stream, "err", err)
		return nil
	}
	a.state, a.revision, a.exists = state, snap.Revision, true
	a.snapRevision, a.hasSnap = snap.Revision, true
	a.set = newProcessedSet(len(rec.Processed) + 8)
	for _, p := range rec.Processed {
		a.set.add(p)
	}
	a.complete = rec.Complete
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

// takeSnapshot builds a snapshot of a (locked) and marks it taken. It carries the
// processed set only for stores that cannot find a command by id.
func (h *Handler[S, C, E]) takeSnapshot(a *loaded[S]) (eventstore.Snapshot, error) {
	state, err := h.codec.Serializer().Marshal(a.state)
	if err != nil {
		return eventstore.Snapshot{}, fmt.Errorf("snapshot %s at revision %d: encode state: %w", a.stream, a.revision, err)
	}
	rec := snapshotRecord{Version: h.cfg.snapshotVersion, State: state}
	if h.finderOf() == nil {
		rec.Processed, rec.Complete = a.set.list(), a.complete
	}
	data, err := rec.encode()
	if err != nil {
		return eventstore.Snapshot{}, fmt.Errorf("snapshot %s at revision %d: %w", a.stream, a.revision, err)
	}
	a.snapRevision, a.hasSnap = a.revision, true
	return eventstore.Snapshot{Stream: a.stream, Revision: a.revision, Data: data, TakenAt: h.cfg.now()}, nil
}

// saveSnapshot stores snap; a failure is logged: the events are stored already.
func (h *Handler[S, C, E]) saveSnapshot(ctx context.Context, snap eventstore.Snapshot) {
	if err := h.cfg.snapshots.SaveSnapshot(ctx, snap); err != nil {
		h.log.Warn("idem: snapshot not saved", "stream", snap.Stream, "revision", snap.Revision, "err", err)
		return
	}
	h.stats.snapshots.Add(1)
}

// keptInMemory bounds the processed set an aggregate keeps in memory when the store
// finds commands by id: older commands are looked up (one indexed read) instead.
const keptInMemory = 256

// pruneWindow applies the dedupe window (G7) to a's processed set, and, when the
// store finds commands by id, the in-memory bound. A pruned set is partial.
func (h *Handler[S, C, E]) pruneWindow(a *loaded[S]) {
	count := h.cfg.windowCount
	if h.finderOf() != nil && (count == 0 || count > keptInMemory) {
		count = keptInMemory
	}
	var cutoff time.Time
	if h.cfg.windowAge > 0 {
		cutoff = h.cfg.now().Add(-h.cfg.windowAge)
	}
	if count == 0 && cutoff.IsZero() {
		return
	}
	if a.set.prune(count, cutoff) > 0 {
		a.complete = false
	}
}
