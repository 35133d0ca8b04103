package backend_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

func TestRetryWindow(t *testing.T) {
	cases := []struct {
		name      string
		expected  eventstore.ExpectedRevision
		actual    eventstore.ExpectedRevision
		count     int
		wantFirst uint64
		wantOK    bool
	}{
		{"NoStream on a stream of 3", eventstore.NoStream(), eventstore.Exact(2), 3, 0, true},
		{"NoStream, fewer ids than the stream", eventstore.NoStream(), eventstore.Exact(2), 1, 0, true},
		{"NoStream, more ids than the stream", eventstore.NoStream(), eventstore.Exact(2), 4, 0, false},
		{"NoStream on a missing stream", eventstore.NoStream(), eventstore.NoStream(), 1, 0, false},
		{"Exact(1), events at 2..4", eventstore.Exact(1), eventstore.Exact(4), 3, 2, true},
		{"Exact(1), the window ends before the last", eventstore.Exact(1), eventstore.Exact(9), 2, 2, true},
		{"Exact(1), the window runs past the last", eventstore.Exact(1), eventstore.Exact(3), 3, 0, false},
		{"Exact at the last revision", eventstore.Exact(4), eventstore.Exact(4), 1, 0, false},
		{"Exact beyond the last revision", eventstore.Exact(7), eventstore.Exact(4), 1, 0, false},
		{"Exact on a missing stream", eventstore.Exact(0), eventstore.NoStream(), 1, 0, false},
		{"Any", eventstore.Any(), eventstore.Exact(4), 1, 0, false},
		{"StreamExists", eventstore.StreamExists(), eventstore.Exact(4), 1, 0, false},
		{"zero ExpectedRevision", eventstore.ExpectedRevision{}, eventstore.Exact(4), 1, 0, false},
		{"no events", eventstore.Exact(1), eventstore.Exact(4), 0, 0, false},
		{"Exact(0), one event", eventstore.Exact(0), eventstore.Exact(1), 1, 1, true},
	}
	for _, c := range cases {
		first, ok := backend.RetryWindow(c.expected, c.actual, c.count)
		assert.Equal(t, c.wantOK, ok, c.name)
		if ok {
			assert.Equal(t, c.wantFirst, first, c.name)
		}
	}
}

func TestSameIDs(t *testing.T) {
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	evs := []eventstore.EventData{{ID: a}, {ID: b}}
	assert.True(t, backend.SameIDs(evs, []uuid.UUID{a, b}))
	assert.False(t, backend.SameIDs(evs, []uuid.UUID{b, a}), "order matters")
	assert.False(t, backend.SameIDs(evs, []uuid.UUID{a}), "fewer")
	assert.False(t, backend.SameIDs(evs, []uuid.UUID{a, b, c}), "more")
	assert.False(t, backend.SameIDs(evs, []uuid.UUID{a, c}), "last differs")
	assert.True(t, backend.SameIDs(nil, nil))
}

func TestValidateAppend(t *testing.T) {
	ev := func(typ string, size int) eventstore.EventData {
		return eventstore.EventData{ID: uuid.New(), Type: typ, Data: make([]byte, size)}
	}
	a, b := ev("A", 1), ev("B", 1)
	zero := ev("A", 0)
	zero.ID = uuid.Nil
	cases := []struct {
		name     string
		stream   string
		expected eventstore.ExpectedRevision
		events   []eventstore.EventData
		max      int
		wantErr  error // nil when the append is valid
		index    int   // InvalidEventError.Index, or -1
	}{
		{"valid", "s-1", eventstore.NoStream(), []eventstore.EventData{a, b}, 0, nil, -1},
		{"bad stream", "$s", eventstore.NoStream(), []eventstore.EventData{a}, 0, eventstore.ErrInvalidStreamName, -1},
		{"zero expected revision", "s-1", eventstore.ExpectedRevision{}, []eventstore.EventData{a}, 0, eventstore.ErrInvalidExpectedRevision, -1},
		{"no events", "s-1", eventstore.Any(), nil, 0, eventstore.ErrInvalidEvent, 0},
		{"zero id", "s-1", eventstore.Any(), []eventstore.EventData{a, zero}, 0, eventstore.ErrInvalidEvent, 1},
		{"empty type", "s-1", eventstore.Any(), []eventstore.EventData{ev("", 1)}, 0, eventstore.ErrInvalidEvent, 0},
		{"type not UTF-8", "s-1", eventstore.Any(), []eventstore.EventData{ev("\xff", 1)}, 0, eventstore.ErrInvalidEvent, 0},
		{"repeated id", "s-1", eventstore.Any(), []eventstore.EventData{a, b, b}, 0, eventstore.ErrInvalidEvent, 2},
		{"exactly the limit", "s-1", eventstore.Any(), []eventstore.EventData{ev("A", 9)}, 10, nil, -1},
		{"over the limit", "s-1", eventstore.Any(), []eventstore.EventData{ev("A", 10)}, 10, eventstore.ErrAppendTooLarge, -1},
		{"over the limit in sum", "s-1", eventstore.Any(), []eventstore.EventData{ev("A", 5), ev("B", 5)}, 10, eventstore.ErrAppendTooLarge, -1},
		{"default limit", "s-1", eventstore.Any(), []eventstore.EventData{ev("A", eventstore.DefaultMaxAppendSize)}, 0, eventstore.ErrAppendTooLarge, -1},
		{"default limit, just under", "s-1", eventstore.Any(), []eventstore.EventData{ev("A", eventstore.DefaultMaxAppendSize-1)}, -1, nil, -1},
	}
	for _, c := range cases {
		err := backend.ValidateAppend(c.stream, c.expected, c.events, c.max)
		if c.wantErr == nil {
			assert.NoError(t, err, c.name)
			continue
		}
		require.Error(t, err, c.name)
		assert.ErrorIs(t, err, c.wantErr, c.name)
		assert.NotErrorIs(t, err, eventstore.ErrWrongExpectedRevision, c.name)
		assert.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("append to %s expecting %s: ", c.stream, c.expected)), "%s: %v", c.name, err)
		if c.index >= 0 {
			var invalid *eventstore.InvalidEventError
			require.ErrorAs(t, err, &invalid, c.name)
			assert.Equal(t, c.index, invalid.Index, c.name)
		}
		if errors.Is(c.wantErr, eventstore.ErrAppendTooLarge) {
			assert.ErrorIs(t, err, eventstore.ErrInvalidEvent, "%s: too large is also an invalid event", c.name)
			var tooLarge *eventstore.AppendTooLargeError
			require.ErrorAs(t, err, &tooLarge, c.name)
			assert.Greater(t, tooLarge.Size, tooLarge.Limit, c.name)
		}
	}
}

func TestValidateReads(t *testing.T) {
	o := backend.ResolveReadOptions
	assert.NoError(t, backend.CheckReadStream(context.Background(), "s-1", o(nil)))
	assert.NoError(t, backend.CheckReadStream(context.Background(), "s-1", o([]eventstore.ReadOption{eventstore.Backwards(), eventstore.Limit(3)})))
	assert.ErrorIs(t, backend.CheckReadStream(context.Background(), "s-1", o([]eventstore.ReadOption{eventstore.StreamPrefix("s")})), eventstore.ErrInvalidReadOption)
	assert.ErrorIs(t, backend.CheckReadStream(context.Background(), "s-1", o([]eventstore.ReadOption{eventstore.EventTypes("A")})), eventstore.ErrInvalidReadOption)
	assert.ErrorIs(t, backend.CheckReadStream(context.Background(), "", o(nil)), eventstore.ErrInvalidStreamName)
	assert.NoError(t, backend.ValidateReadAll(o([]eventstore.ReadOption{eventstore.StreamPrefix("s"), eventstore.EventTypes("A"), eventstore.Limit(1)})))
	assert.ErrorIs(t, backend.ValidateReadAll(o([]eventstore.ReadOption{eventstore.Backwards()})), eventstore.ErrInvalidReadOption)
}

func TestReadOptions(t *testing.T) {
	o := backend.ResolveReadOptions([]eventstore.ReadOption{
		eventstore.Limit(-3), nil, eventstore.StreamPrefix("order-"), eventstore.StreamPrefix("invoice-"), eventstore.EventTypes("Placed", "Paid"),
	})
	assert.Equal(t, 0, o.Limit, "a negative limit means no limit")
	assert.Equal(t, []string{"order-", "invoice-"}, o.StreamPrefixes)
	assert.True(t, o.HasFilter())
	assert.True(t, o.Matches("order-1", "Placed"))
	assert.True(t, o.Matches("invoice-1", "Paid"))
	assert.False(t, o.Matches("customer-1", "Placed"), "prefix")
	assert.False(t, o.Matches("order-1", "Shipped"), "type")
	none := backend.ResolveReadOptions(nil)
	assert.False(t, none.HasFilter())
	assert.True(t, none.Matches("anything", "Any"))
}
