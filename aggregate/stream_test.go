package aggregate_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
)

func TestStreamName(t *testing.T) {
	cases := []struct {
		category, id, want string
		err                error
	}{
		{"invoice", "42", "invoice-42", nil},
		{"payments.card", "a-b-c", "payments.card-a-b-c", nil},
		{"", "42", "", aggregate.ErrInvalidCategory},
		{"in-voice", "42", "", aggregate.ErrInvalidCategory},
		{"$system", "42", "", aggregate.ErrInvalidCategory},
		{"9lives", "42", "", aggregate.ErrInvalidCategory},
		{"invoice", "", "", aggregate.ErrInvalidAggregateID},
		{"invoice", "a b", "", aggregate.ErrInvalidAggregateID},
		{"invoice", "a\nb", "", aggregate.ErrInvalidAggregateID},
		{"invoice", strings.Repeat("x", aggregate.MaxAggregateIDLength+1), "", aggregate.ErrInvalidAggregateID},
		{"invoice", "\xff", "", aggregate.ErrInvalidAggregateID},
	}
	for _, tc := range cases {
		got, err := aggregate.StreamName(tc.category, tc.id)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, "%q %q", tc.category, tc.id)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
		cat, id, err := aggregate.ParseStreamName(got)
		require.NoError(t, err)
		require.Equal(t, tc.category, cat)
		require.Equal(t, tc.id, id)
	}
}

func TestKeyedID(t *testing.T) {
	a := aggregate.KeyedID("invoice", "SH-1")
	require.Equal(t, a, aggregate.KeyedID("invoice", "SH-1"), "stable")
	require.NotEqual(t, a, aggregate.KeyedID("invoice", "SH-2"))
	require.NotEqual(t, a, aggregate.KeyedID("credit", "SH-1"), "categories do not collide")
	u, err := uuid.Parse(a)
	require.NoError(t, err)
	require.Equal(t, uuid.Version(5), u.Version())
	// Pinned: changing the namespace would move every keyed aggregate.
	require.Equal(t, "ddbb5a43-f843-558f-8fbf-b18899340faa", a)
	_, err = aggregate.StreamName("invoice", a)
	require.NoError(t, err)
}

func TestDeciderValidate(t *testing.T) {
	d := aggregate.Decider[int, Command, Event]{Category: "c", Initial: func() int { return 0 },
		Evolve: func(s int, _ Event) int { return s }, Decide: func(int, Command) ([]Event, error) { return nil, nil }}
	require.NoError(t, d.Validate())
	e := d
	e.Evolve = nil
	require.ErrorIs(t, e.Validate(), aggregate.ErrInvalidDecider)
	e = d
	e.Category = "a-b"
	require.ErrorIs(t, e.Validate(), aggregate.ErrInvalidDecider)
	require.ErrorIs(t, e.Validate(), aggregate.ErrInvalidCategory)
}

func TestAlreadyDone(t *testing.T) {
	err := aggregate.AlreadyDone("shipment SH-1")
	require.ErrorIs(t, err, aggregate.ErrAlreadyDone)
	var dk *aggregate.DuplicateKeyError
	require.ErrorAs(t, err, &dk)
	require.Equal(t, "shipment SH-1", dk.Key)
}
