package aggregate_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem"
	"github.com/idemkit/idem/aggregate"
)

// A small payments domain: sealed command and event interfaces.
type (
	Event   interface{ isEvent() }
	Command interface{ isCommand() }
)

type Authorized struct {
	Reference string
	Amount    int
}
type Captured struct{ Reference string }
type Authorize struct{ Amount int }

func (Authorized) isEvent()  {}
func (Captured) isEvent()    {}
func (Authorize) isCommand() {}

// A type of another domain: not an Event.
type Shipped struct{ Parcel string }

func paymentsCodec(t testing.TB, opts ...aggregate.CodecOption) *aggregate.Codec[Command, Event] {
	t.Helper()
	c, err := aggregate.NewCodec[Command, Event](append([]aggregate.CodecOption{
		aggregate.Event[Authorized]("payments.Authorized"),
		aggregate.Event[Captured]("payments.Captured"),
		aggregate.Command[Authorize]("payments.Authorize"),
	}, opts...)...)
	require.NoError(t, err)
	return c
}

func TestCodecRoundTrip(t *testing.T) {
	c := paymentsCodec(t)
	name, data, err := c.EncodeEvent(Authorized{Reference: "r", Amount: 5})
	require.NoError(t, err)
	require.Equal(t, "payments.Authorized", name)
	v, err := c.DecodeEvent(name, data)
	require.NoError(t, err)
	require.Equal(t, Event(Authorized{Reference: "r", Amount: 5}), v)

	name, data, err = c.EncodeEvent(&Captured{Reference: "p"})
	require.NoError(t, err, "a pointer to a registered type encodes as the type")
	require.Equal(t, "payments.Captured", name)
	v, err = c.DecodeEvent(name, data)
	require.NoError(t, err)
	require.Equal(t, Event(Captured{Reference: "p"}), v, "and decodes as the value: the form Evolve always sees")

	name, data, err = c.EncodeCommand(Authorize{Amount: 3})
	require.NoError(t, err)
	require.Equal(t, "payments.Authorize", name)
	cmd, err := c.DecodeCommand(name, data)
	require.NoError(t, err)
	require.Equal(t, Command(Authorize{Amount: 3}), cmd)

	require.Equal(t, []string{"payments.Authorized", "payments.Captured"}, c.EventTypes())
	require.Equal(t, []string{"payments.Authorize"}, c.CommandTypes())
}

func TestCodecErrors(t *testing.T) {
	c := paymentsCodec(t)
	type other struct{ Event }
	_, _, err := c.EncodeEvent(other{})
	require.ErrorIs(t, err, aggregate.ErrUnregisteredType)
	var unreg *aggregate.UnregisteredTypeError
	require.ErrorAs(t, err, &unreg)
	_, _, err = c.EncodeEvent(nil)
	require.ErrorIs(t, err, aggregate.ErrUnregisteredType)
	var nilAuth *Authorized
	_, _, err = c.EncodeEvent(nilAuth)
	require.ErrorIs(t, err, aggregate.ErrEncode)

	_, err = c.DecodeEvent("payments.Nope", []byte(`{}`))
	require.ErrorIs(t, err, aggregate.ErrUnknownEventType)
	var unknown *aggregate.UnknownTypeError
	require.ErrorAs(t, err, &unknown)
	require.Equal(t, "payments.Nope", unknown.Name)
	_, err = c.DecodeEvent("payments.Authorized", []byte(`{not json`))
	require.ErrorIs(t, err, aggregate.ErrDecode)
	_, err = c.DecodeCommand("payments.Authorize", []byte(`[]`))
	require.ErrorIs(t, err, aggregate.ErrDecode)
}

func TestNewCodecRefusesBadRegistrations(t *testing.T) {
	cases := map[string]struct {
		opts []aggregate.CodecOption
		want error
	}{
		"name twice":       {[]aggregate.CodecOption{aggregate.Event[Authorized]("x"), aggregate.Event[Captured]("x")}, aggregate.ErrDuplicateRegistration},
		"type twice":       {[]aggregate.CodecOption{aggregate.Event[Authorized]("x"), aggregate.Event[Authorized]("y")}, aggregate.ErrDuplicateRegistration},
		"empty name":       {[]aggregate.CodecOption{aggregate.Event[Authorized]("")}, aggregate.ErrInvalidTypeName},
		"reserved":         {[]aggregate.CodecOption{aggregate.Event[Authorized]("$idem.mine")}, aggregate.ErrInvalidTypeName},
		"space":            {[]aggregate.CodecOption{aggregate.Event[Authorized]("has space")}, aggregate.ErrInvalidTypeName},
		"interface":        {[]aggregate.CodecOption{aggregate.Event[Event]("iface")}, aggregate.ErrInvalidRegistration},
		"not an E":         {[]aggregate.CodecOption{aggregate.Event[Shipped]("shipping.Shipped")}, aggregate.ErrInvalidRegistration},
		"not a C":          {[]aggregate.CodecOption{aggregate.Command[Captured]("payments.Capture")}, aggregate.ErrInvalidRegistration},
		"alias of nothing": {[]aggregate.CodecOption{aggregate.Alias[Captured]("old")}, aggregate.ErrInvalidRegistration},
		"dangling upcast": {[]aggregate.CodecOption{aggregate.Upcast("old", func(s Shipped) Shipped { return s })},
			aggregate.ErrInvalidRegistration},
		"nil upcast":     {[]aggregate.CodecOption{aggregate.Upcast[Shipped, Captured]("old", nil)}, aggregate.ErrInvalidRegistration},
		"nil serializer": {[]aggregate.CodecOption{aggregate.WithSerializer(nil)}, aggregate.ErrInvalidRegistration},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := aggregate.NewCodec[Command, Event](c.opts...)
			require.ErrorIs(t, err, c.want)
		})
	}
}

// Older shapes of Captured: V1 had the reference as "ref"; V2 added the amount.
type CapturedV1 struct {
	Ref string `json:"ref"`
}
type CapturedV2 struct {
	Reference string
	Cents     int
}

// TestUpcastChains: events stored under older names and shapes decode into
// today's type through a chain of pure upcasters; a rename is an alias.
func TestUpcastChains(t *testing.T) {
	c := paymentsCodec(t,
		aggregate.Upcast("payments.Captured.v1", func(o CapturedV1) CapturedV2 { return CapturedV2{Reference: o.Ref} }),
		aggregate.Upcast("payments.Captured.v2", func(o CapturedV2) Captured { return Captured{Reference: o.Reference} }),
		aggregate.Alias[Authorized]("payments.PaymentAuthorized"),
	)
	v, err := c.DecodeEvent("payments.Captured.v1", []byte(`{"ref":"c-1"}`))
	require.NoError(t, err)
	require.Equal(t, Event(Captured{Reference: "c-1"}), v, "v1 -> v2 -> today")
	v, err = c.DecodeEvent("payments.Captured.v2", []byte(`{"Reference":"c-2","Cents":5}`))
	require.NoError(t, err)
	require.Equal(t, Event(Captured{Reference: "c-2"}), v)
	v, err = c.DecodeEvent("payments.PaymentAuthorized", []byte(`{"Reference":"r","Amount":1}`))
	require.NoError(t, err)
	require.Equal(t, Event(Authorized{Reference: "r", Amount: 1}), v)
	require.Equal(t, []string{"payments.Authorized", "payments.Captured"}, c.EventTypes(), "older names are not today's types")

	_, err = c.DecodeEvent("payments.Captured.v1", []byte(`{"ref":5}`))
	require.ErrorIs(t, err, aggregate.ErrDecode)
}

func TestUpcastPanicIsAnError(t *testing.T) {
	c := paymentsCodec(t, aggregate.Upcast("payments.Captured.v1", func(CapturedV1) Captured { panic("bad data") }))
	_, err := c.DecodeEvent("payments.Captured.v1", []byte(`{"ref":"x"}`))
	var p *idem.PanicError
	require.ErrorAs(t, err, &p)
	require.Contains(t, p.Callback, "payments.Captured.v1")
}

func TestCodecsAreIndependent(t *testing.T) {
	a := paymentsCodec(t)
	b, err := aggregate.NewCodec[Command, Event](aggregate.Event[Authorized]("v2.Authorized"))
	require.NoError(t, err, "no global registry")
	_, err = b.DecodeEvent("payments.Authorized", []byte(`{}`))
	require.ErrorIs(t, err, aggregate.ErrUnknownEventType)
	_, err = a.DecodeEvent("v2.Authorized", []byte(`{}`))
	require.ErrorIs(t, err, aggregate.ErrUnknownEventType)
}

// tagged is a custom serializer: it proves the codec uses the one it is given.
type tagged struct{ used *int }

func (s tagged) Marshal(v any) ([]byte, error) { *s.used++; return json.Marshal(v) }
func (s tagged) Unmarshal(d []byte, v any) error {
	*s.used++
	if len(d) == 0 {
		return errors.New("empty")
	}
	return json.Unmarshal(d, v)
}

func TestCodecSerializerIsPluggable(t *testing.T) {
	n := 0
	c := paymentsCodec(t, aggregate.WithSerializer(tagged{used: &n}))
	name, data, err := c.EncodeEvent(Captured{Reference: "x"})
	require.NoError(t, err)
	_, err = c.DecodeEvent(name, data)
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func FuzzCodecDecode(f *testing.F) {
	c, err := aggregate.NewCodec[Command, Event](aggregate.Event[Authorized]("payments.Authorized"),
		aggregate.Upcast("payments.Captured.v1", func(o CapturedV1) Authorized { return Authorized{Reference: o.Ref} }))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("payments.Authorized", []byte(`{"Reference":"r","Amount":5}`))
	f.Add("payments.Authorized", []byte(`{"Amount":"five"}`))
	f.Add("payments.Authorized", []byte(``))
	f.Add("payments.Nope", []byte(`{}`))
	f.Add("", []byte(`null`))
	f.Add("payments.Authorized", []byte(`[1,2,3]`))
	f.Add("payments.Captured.v1", []byte(`{"ref":"x"}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		v, err := c.DecodeEvent(name, data)
		if err != nil {
			if !errors.Is(err, aggregate.ErrUnknownEventType) && !errors.Is(err, aggregate.ErrDecode) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		a, ok := v.(Authorized)
		if !ok {
			t.Fatalf("decoded %T", v)
		}
		// Whatever decodes re-encodes as today's type and decodes to the same value.
		n2, d2, err := c.EncodeEvent(a)
		if err != nil || n2 != "payments.Authorized" {
			t.Fatalf("re-encode: %q %v", n2, err)
		}
		v2, err := c.DecodeEvent(n2, d2)
		if err != nil || v2 != v {
			t.Fatalf("round trip: %v %v", v2, err)
		}
	})
}
