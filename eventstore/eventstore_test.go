package eventstore_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"github.com/idemkit/idem/internal/quote"
)

func TestPositionCompare(t *testing.T) {
	p := func(c, pr uint64) eventstore.Position { return eventstore.Position{Commit: c, Prepare: pr} }
	cases := []struct {
		a, b eventstore.Position
		want int
	}{
		{eventstore.Start(), eventstore.Start(), 0},
		{eventstore.Start(), p(0, 1), -1},
		{p(1, 1), p(1, 1), 0},
		{p(1, 5), p(2, 0), -1},
		{p(2, 0), p(1, 5), 1},
		{p(3, 1), p(3, 2), -1},
		{p(3, 2), p(3, 1), 1},
		{p(math.MaxUint64, 0), p(0, math.MaxUint64), 1},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.a.Compare(c.b), "%s vs %s", c.a, c.b)
		assert.Equal(t, -c.want, c.b.Compare(c.a), "%s vs %s", c.b, c.a)
		assert.Equal(t, c.want < 0, c.a.Less(c.b), "%s < %s", c.a, c.b)
		assert.Equal(t, c.want == 0, c.a == c.b, "%s == %s", c.a, c.b)
	}
	assert.Equal(t, p(7, 7), backend.SequencePosition(7))
	assert.True(t, eventstore.Start().Less(backend.SequencePosition(1)), "Start is before the first sequence position")
}

func TestPositionText(t *testing.T) {
	for _, pos := range []eventstore.Position{
		eventstore.Start(),
		backend.SequencePosition(1),
		{Commit: 1234, Prepare: 1200},
		{Commit: math.MaxUint64, Prepare: math.MaxUint64},
	} {
		s := pos.String()
		parsed, err := eventstore.ParsePosition(s)
		require.NoError(t, err, s)
		assert.Equal(t, pos, parsed, s)

		text, err := pos.MarshalText()
		require.NoError(t, err)
		assert.Equal(t, s, string(text))
		var back eventstore.Position
		require.NoError(t, back.UnmarshalText(text))
		assert.Equal(t, pos, back)

		js, err := json.Marshal(map[string]eventstore.Position{"checkpoint": pos})
		require.NoError(t, err)
		assert.Equal(t, `{"checkpoint":"`+s+`"}`, string(js))
		var m map[string]eventstore.Position
		require.NoError(t, json.Unmarshal(js, &m))
		assert.Equal(t, pos, m["checkpoint"])
	}
	assert.Equal(t, "1234/1200", eventstore.Position{Commit: 1234, Prepare: 1200}.String())
}

func TestParsePositionErrors(t *testing.T) {
	for _, s := range []string{"", "12", "/", "1/", "/1", "a/1", "1/b", "-1/1", "1/2/3", " 1/2", "1/2 ", "18446744073709551616/0", "1.5/2"} {
		_, err := eventstore.ParsePosition(s)
		require.Error(t, err, "%q", s)
		assert.ErrorIs(t, err, eventstore.ErrInvalidPosition, "%q", s)
		assert.Contains(t, err.Error(), fmt.Sprintf("%q", s), "the error quotes the input")

		var p eventstore.Position
		assert.ErrorIs(t, p.UnmarshalText([]byte(s)), eventstore.ErrInvalidPosition, "UnmarshalText %q", s)
		assert.Equal(t, eventstore.Start(), p, "a failed UnmarshalText leaves the position alone")
	}
}

func TestExpectedRevisionAccepts(t *testing.T) {
	missing := eventstore.NoStream()
	at0, at5 := eventstore.Exact(0), eventstore.Exact(5)
	cases := []struct {
		expected eventstore.ExpectedRevision
		actual   eventstore.ExpectedRevision
		want     bool
	}{
		{eventstore.Any(), missing, true},
		{eventstore.Any(), at0, true},
		{eventstore.Any(), at5, true},
		{eventstore.NoStream(), missing, true},
		{eventstore.NoStream(), at0, false},
		{eventstore.NoStream(), at5, false},
		{eventstore.StreamExists(), missing, false},
		{eventstore.StreamExists(), at0, true},
		{eventstore.StreamExists(), at5, true},
		{eventstore.Exact(0), missing, false},
		{eventstore.Exact(0), at0, true},
		{eventstore.Exact(0), at5, false},
		{eventstore.Exact(5), at5, true},
		{eventstore.Exact(4), at5, false},
		{eventstore.Exact(6), at5, false},
		{eventstore.ExpectedRevision{}, missing, false},
		{eventstore.ExpectedRevision{}, at0, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.expected.Accepts(c.actual), "%s accepts %s", c.expected, c.actual)
	}
}

func TestExpectedRevisionCases(t *testing.T) {
	cases := []struct {
		r      eventstore.ExpectedRevision
		kind   eventstore.RevisionKind
		text   string
		n      uint64
		exact  bool
		isZero bool
	}{
		{eventstore.Any(), eventstore.KindAny, "any", 0, false, false},
		{eventstore.NoStream(), eventstore.KindNoStream, "no stream", 0, false, false},
		{eventstore.StreamExists(), eventstore.KindStreamExists, "stream exists", 0, false, false},
		{eventstore.Exact(0), eventstore.KindExact, "revision 0", 0, true, false},
		{eventstore.Exact(42), eventstore.KindExact, "revision 42", 42, true, false},
		{eventstore.ExpectedRevision{}, 0, "invalid expected revision", 0, false, true},
	}
	for _, c := range cases {
		assert.Equal(t, c.kind, c.r.Kind(), c.text)
		assert.Equal(t, c.text, c.r.String())
		n, ok := c.r.Revision()
		assert.Equal(t, c.exact, ok, c.text)
		if ok {
			assert.Equal(t, c.n, n, c.text)
		}
		assert.Equal(t, !c.isZero, c.r.IsValid(), c.text)
	}
	assert.NotEqual(t, eventstore.Exact(0), eventstore.NoStream(), "Exact(0) and NoStream differ")
	assert.NotEqual(t, eventstore.Exact(0), eventstore.ExpectedRevision{}, "Exact(0) is not the zero value")
	assert.Equal(t, eventstore.NoStream(), backend.StreamState(false, 7))
	assert.Equal(t, eventstore.Exact(7), backend.StreamState(true, 7))
}

func TestValidateStreamName(t *testing.T) {
	valid := []string{"a", "order-42", "Order_42.v2", "ünïcode-流", "a$b", strings.Repeat("x", eventstore.MaxStreamNameLength)}
	for _, name := range valid {
		assert.NoError(t, eventstore.ValidateStreamName(name), "%q", name)
	}
	invalid := map[string]string{
		"":            "empty",
		"$all":        "reserved",
		"$ce-order":   "reserved",
		"has space":   "white space",
		"tab\t":       "white space",
		"line\nbreak": "white space",
		"nul\x00":     "control",
		"bell\a":      "control",
		"nbsp\u00a0":  "white space",
		"del\x7f":     "control",
		"bad\xffutf8": "UTF-8",
		strings.Repeat("x", eventstore.MaxStreamNameLength+1): "longer than 512",
	}
	for name, reason := range invalid {
		err := eventstore.ValidateStreamName(name)
		require.Error(t, err, "%q", name)
		assert.ErrorIs(t, err, eventstore.ErrInvalidStreamName, "%q", name)
		var invalidName *eventstore.InvalidStreamNameError
		require.ErrorAs(t, err, &invalidName, "%q", name)
		assert.Equal(t, name, invalidName.Name)
		assert.Contains(t, invalidName.Reason, reason, "%q", name)
		assert.Contains(t, err.Error(), "invalid stream name "+quote.Q(name))
	}
	// A hostile name is quoted in part: the message stays short (G11).
	huge := strings.Repeat("\x01", 1<<20)
	err := eventstore.ValidateStreamName(huge)
	require.ErrorIs(t, err, eventstore.ErrInvalidStreamName)
	assert.Less(t, len(err.Error()), 2*quote.Max, "the message quotes at most a few hundred bytes of the name")
}

func TestWrongExpectedRevisionError(t *testing.T) {
	cases := []struct {
		err  *eventstore.WrongExpectedRevisionError
		want string
	}{
		{&eventstore.WrongExpectedRevisionError{Stream: "order-1", Expected: eventstore.Exact(3), Actual: eventstore.Exact(5)},
			"append to order-1 expecting revision 3: wrong expected revision: actual revision 5"},
		{&eventstore.WrongExpectedRevisionError{Stream: "order-1", Expected: eventstore.StreamExists(), Actual: eventstore.NoStream()},
			"append to order-1 expecting stream exists: wrong expected revision: actual no stream"},
		{&eventstore.WrongExpectedRevisionError{Stream: "order-1", Expected: eventstore.NoStream()},
			"append to order-1 expecting no stream: wrong expected revision: actual unknown"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.err.Error())
		wrapped := fmt.Errorf("handle command: %w", c.err)
		assert.ErrorIs(t, wrapped, eventstore.ErrWrongExpectedRevision)
		assert.NotErrorIs(t, wrapped, eventstore.ErrInvalidEvent)
		var got *eventstore.WrongExpectedRevisionError
		require.ErrorAs(t, wrapped, &got)
		assert.Same(t, c.err, got)
		// AppendError does not wrap a conflict twice: its message already says it all.
		assert.Same(t, c.err, backend.AppendError("order-1", c.err.Expected, c.err))
	}
}

func TestErrorTypes(t *testing.T) {
	id := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	invalid := &eventstore.InvalidEventError{Index: 2, ID: id, Reason: "zero id"}
	assert.Equal(t, "invalid event #2 (id 6ba7b810-9dad-11d1-80b4-00c04fd430c8): zero id", invalid.Error())
	assert.ErrorIs(t, invalid, eventstore.ErrInvalidEvent)
	assert.NotErrorIs(t, invalid, eventstore.ErrAppendTooLarge)

	tooLarge := &eventstore.AppendTooLargeError{Size: 11, Limit: 10}
	assert.Equal(t, "append too large: 11 bytes of type, data and metadata, limit 10", tooLarge.Error())
	assert.ErrorIs(t, tooLarge, eventstore.ErrAppendTooLarge)
	assert.ErrorIs(t, tooLarge, eventstore.ErrInvalidEvent)

	name := &eventstore.InvalidStreamNameError{Name: "$x", Reason: "reserved"}
	assert.Equal(t, `invalid stream name "$x": reserved`, name.Error())
	assert.ErrorIs(t, name, eventstore.ErrInvalidStreamName)

	err := backend.AppendError("order-1", eventstore.Exact(2), tooLarge)
	assert.Equal(t, "append to order-1 expecting revision 2: append too large: 11 bytes of type, data and metadata, limit 10", err.Error())
	var gotTooLarge *eventstore.AppendTooLargeError
	require.ErrorAs(t, err, &gotTooLarge)
	assert.Same(t, tooLarge, gotTooLarge)

	assert.Equal(t, "read stream order-1: stream not found", backend.ReadStreamError("order-1", eventstore.ErrStreamNotFound).Error())
	assert.ErrorIs(t, backend.ReadStreamError("order-1", eventstore.ErrStreamNotFound), eventstore.ErrStreamNotFound)
	assert.Equal(t, "read all after 3/3: event store closed", backend.ReadAllError(backend.SequencePosition(3), eventstore.ErrClosed).Error())
	assert.ErrorIs(t, backend.ReadAllError(eventstore.Start(), eventstore.ErrClosed), eventstore.ErrClosed)
	assert.Equal(t, "subscribe to all after 0/0: invalid read option", backend.SubscribeError(eventstore.Start(), eventstore.ErrInvalidReadOption).Error())
	assert.ErrorIs(t, backend.SubscribeError(eventstore.Start(), eventstore.ErrInvalidReadOption), eventstore.ErrInvalidReadOption)
}
