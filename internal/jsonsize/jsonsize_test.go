package jsonsize_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/idemkit/idem/internal/jsonsize"
)

type inner struct {
	Name  string
	Tags  []string
	Bytes []byte
}

type outer struct {
	ID      string
	N       int
	Skip    string `json:"-"`
	Inner   inner
	Ptr     *inner
	Map     map[string]inner
	When    time.Time
	Raw     json.RawMessage
	Any     any
	private string
}

// TestFloorNeverExceedsTheEncoding: for values of many shapes, the floor is at
// most the size of the real encoding.
func TestFloorNeverExceedsTheEncoding(t *testing.T) {
	in := inner{Name: "héllo\x01<>", Tags: []string{"a", "", "ccc"}, Bytes: []byte("xyz")}
	values := []any{
		"", "plain", strings.Repeat("\x00", 100), 42, 3.5, true, nil,
		[]int{1, 2, 3}, [3]string{"a", "b", "c"}, map[string]int{"k": 1},
		in, &in, outer{ID: "id", Inner: in, Ptr: &in, Map: map[string]inner{"m": in}, Raw: json.RawMessage(`{"a":1}`), Any: in, private: "x"},
		outer{}, []any{nil, "x", 1}, []byte{}, []*inner{nil, &in},
	}
	for _, v := range values {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		if f := jsonsize.Floor(v, 1<<30); f > len(data) {
			t.Errorf("Floor(%#v) = %d > %d bytes of %s", v, f, len(data), data)
		}
	}
}

// TestFloorStopsEarly: a huge value passes the limit at once, without walking it.
func TestFloorStopsEarly(t *testing.T) {
	huge := make([]int, 100<<20)
	if f := jsonsize.Floor(huge, 1<<20); f <= 1<<20 {
		t.Fatalf("Floor of 100M ints = %d", f)
	}
	big := strings.Repeat("x", 10<<20)
	if f := jsonsize.Floor(struct{ A, B string }{big, big}, 1<<20); f <= 1<<20 || f > 11<<20 {
		t.Fatalf("Floor stopped at %d", f)
	}
}

// TestFloorSurvivesCycles: a cyclic value is walked once.
func TestFloorSurvivesCycles(t *testing.T) {
	type node struct {
		Name string
		Next *node
	}
	n := &node{Name: "loop"}
	n.Next = n
	if f := jsonsize.Floor(n, 1<<20); f != 4 {
		t.Fatalf("Floor of a cycle = %d, want 4", f)
	}
}
