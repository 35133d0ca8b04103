package aggregate_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
)

type Authorized struct {
	Reference string
	Amount    int
}
type Captured struct{ Reference string }

func TestCodecRoundTrip(t *testing.T) {
	c := aggregate.NewCodec()
	require.NoError(t, aggregate.Register[Authorized](c, "payments.Authorized"))
	require.NoError(t, aggregate.Register[Captured](c, "payments.Captured"))
	require.NoError(t, aggregate.Register[Captured](c, "payments.Captured"), "same pair twice is fine")

	name, data, err := c.Encode(Authorized{Reference: "r", Amount: 5})
	require.NoError(t, err)
	require.Equal(t, "payments.Authorized", name)
	v, err := c.Decode(name, data)
	require.NoError(t, err)
	require.Equal(t, Authorized{Reference: "r", Amount: 5}, v)

	name, _, err = c.Encode(&Captured{Reference: "p"})
	require.NoError(t, err, "a pointer to a registered type encodes as the type")
	require.Equal(t, "payments.Captured", name)
	require.Equal(t, []string{"payments.Authorized", "payments.Captured"}, c.Types())
}

func TestCodecErrors(t *testing.T) {
	c := aggregate.NewCodec()
	require.NoError(t, aggregate.Register[Authorized](c, "payments.Authorized"))
	type Other struct{}

	_, _, err := c.Encode(Other{})
	require.ErrorIs(t, err, aggregate.ErrUnregisteredType)
	var unreg *aggregate.UnregisteredTypeError
	require.ErrorAs(t, err, &unreg)
	_, _, err = c.Encode(nil)
	require.ErrorIs(t, err, aggregate.ErrUnregisteredType)
	var nilAuth *Authorized
	_, _, err = c.Encode(nilAuth)
	require.ErrorIs(t, err, aggregate.ErrEncode)

	_, err = c.Decode("payments.Nope", []byte(`{}`))
	require.ErrorIs(t, err, aggregate.ErrUnknownEventType)
	var unknown *aggregate.UnknownTypeError
	require.ErrorAs(t, err, &unknown)
	require.Equal(t, "payments.Nope", unknown.Name)
	_, err = c.Decode("payments.Authorized", []byte(`{not json`))
	require.ErrorIs(t, err, aggregate.ErrDecode)

	require.ErrorIs(t, aggregate.Register[Other](c, "payments.Authorized"), aggregate.ErrDuplicateRegistration)
	require.ErrorIs(t, aggregate.Register[Authorized](c, "payments.Again"), aggregate.ErrDuplicateRegistration)
	require.ErrorIs(t, aggregate.Register[Other](c, ""), aggregate.ErrInvalidTypeName)
	require.ErrorIs(t, aggregate.Register[Other](c, "$idem.mine"), aggregate.ErrInvalidTypeName)
	require.ErrorIs(t, aggregate.Register[Other](c, "has space"), aggregate.ErrInvalidTypeName)
	require.ErrorIs(t, aggregate.Register[error](c, "iface"), aggregate.ErrUnregisteredType)
}

func TestCodecsAreIndependent(t *testing.T) {
	a, b := aggregate.NewCodec(), aggregate.NewCodec()
	require.NoError(t, aggregate.Register[Authorized](a, "payments.Authorized"))
	require.NoError(t, aggregate.Register[Authorized](b, "v2.Authorized"), "no global registry")
	_, err := b.Decode("payments.Authorized", []byte(`{}`))
	require.ErrorIs(t, err, aggregate.ErrUnknownEventType)
}

// upperJSON is a custom serializer: it proves the codec uses the one it is given.
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
	c := aggregate.NewCodec(aggregate.WithSerializer(tagged{used: &n}))
	require.NoError(t, aggregate.Register[Captured](c, "payments.Captured"))
	name, data, err := c.Encode(Captured{Reference: "x"})
	require.NoError(t, err)
	_, err = c.Decode(name, data)
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func FuzzCodecDecode(f *testing.F) {
	c := aggregate.NewCodec()
	if err := aggregate.Register[Authorized](c, "payments.Authorized"); err != nil {
		f.Fatal(err)
	}
	f.Add("payments.Authorized", []byte(`{"Reference":"r","Amount":5}`))
	f.Add("payments.Authorized", []byte(`{"Amount":"five"}`))
	f.Add("payments.Authorized", []byte(``))
	f.Add("payments.Nope", []byte(`{}`))
	f.Add("", []byte(`null`))
	f.Add("payments.Authorized", []byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		v, err := c.Decode(name, data)
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
		// Whatever decodes re-encodes and decodes to the same value.
		n2, d2, err := c.Encode(a)
		if err != nil || n2 != name {
			t.Fatalf("re-encode: %q %v", n2, err)
		}
		v2, err := c.Decode(n2, d2)
		if err != nil || v2 != v {
			t.Fatalf("round trip: %v %v", v2, err)
		}
	})
}
