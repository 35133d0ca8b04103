package command

import (
	"encoding/json"
	"testing"
)

// canonicalInputs are documents the flat encoding must write exactly as the
// general path does, or hand to it.
var canonicalInputs = []string{
	`{}`, `[]`, `0`, `"x"`, `null`, `true`, `false`, `-0.0`, `1e-400`, `0e5`, `1.50`, `12E+3`,
	`{"b":1,"a":2}`, `{"a":0,"b":"","c":null,"d":false,"e":[],"f":{},"g":{"h":0}}`,
	`{"z":{"y":[0,"",null,{},{"k":0,"j":1}],"x":true},"a":[{"b":{"c":{}}}]}`,
	`{"amount":100,"reference":"ref-1"}`, `{"a":1,"a":2}`, `{"a":1,"a":0}`, `{"s":"\u003c\u0026"}`,
	`{"s":"é","t":"\u2028"}`, `{"n":-0.000e10,"m":1e400}`, ` { "a" : [ 1 , 2 ] , "b" : "" } `,
	`{"":1}`, `{"a":1,"A":2,"_":3,"0":4}`, `[{"b":1,"a":0},[],[[]],{}]`, `{"x":"a b\tc"}`,
}

func TestFlatCanonicalMatchesTheGeneralPath(t *testing.T) {
	for _, in := range canonicalInputs {
		checkCanonical(t, []byte(in))
	}
}

func checkCanonical(t *testing.T, in []byte) {
	t.Helper()
	want, err := canonicalJSON(in)
	got, ok := flatCanonical(nil, in)
	switch {
	case !ok:
		return // the general path encodes it
	case err != nil:
		t.Errorf("%s: flat encoding %s, general path failed: %v", in, got, err)
	case string(got) != string(want):
		t.Errorf("%s: flat encoding %s, general path %s", in, got, want)
	}
}

func FuzzFlatCanonical(f *testing.F) {
	for _, in := range canonicalInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return // the payloads are json.Marshal's output
		}
		checkCanonical(t, in)
	})
}

func BenchmarkCanonical(b *testing.B) {
	in := []byte(`{"amount":100,"reference":"ref-12345","note":"","tags":["a","b"],"meta":{"z":1,"a":0}}`)
	b.Run("flat", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			flatCanonical(nil, in)
		}
	})
	b.Run("general", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = canonicalJSON(in)
		}
	})
}
