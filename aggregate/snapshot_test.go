package aggregate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
)

func TestMemorySnapshots(t *testing.T) {
	ctx := t.Context()
	m := aggregate.NewMemorySnapshots()
	_, err := m.LoadSnapshot(ctx, "a-1")
	require.ErrorIs(t, err, aggregate.ErrNoSnapshot)
	s := aggregate.Snapshot{Stream: "a-1", Revision: 5, SchemaVersion: 1, State: []byte(`{}`),
		Processed: []aggregate.ProcessedCommand{{ID: "c", Fingerprint: "f", FirstRevision: 5, LastRevision: 5}}}
	require.NoError(t, m.SaveSnapshot(ctx, s))
	require.NoError(t, m.SaveSnapshot(ctx, aggregate.Snapshot{Stream: "a-1", Revision: 3}), "older: ignored")
	got, err := m.LoadSnapshot(ctx, "a-1")
	require.NoError(t, err)
	require.Equal(t, s, got)
	got.State[0] = 'x'
	again, _ := m.LoadSnapshot(ctx, "a-1")
	require.Equal(t, byte('{'), again.State[0], "loads share nothing with the store")
	require.ErrorIs(t, m.SaveSnapshot(ctx, aggregate.Snapshot{Stream: "$bad"}), aggregate.ErrInvalidSnapshot)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = m.LoadSnapshot(cancelled, "a-1")
	require.ErrorIs(t, err, context.Canceled)
}
