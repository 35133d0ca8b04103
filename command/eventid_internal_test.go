package command

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// EventID must stay the UUIDv5 it always was: stored events carry these ids.
func TestEventIDIsUUIDv5(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, c := range []struct {
		stream, id string
		index      int
	}{{"account-1", "cmd-1", 0}, {"account-1", "cmd-1", 7}, {"", "", 0}, {long, "c", 12345}, {"s", long, -1}} {
		want := uuid.NewSHA1(eventNamespace, []byte(c.stream+"\x00"+c.id+"\x00"+strconv.Itoa(c.index)))
		if got := EventID(c.stream, c.id, c.index); got != want {
			t.Errorf("EventID(%.10q, %.10q, %d) = %s, want %s", c.stream, c.id, c.index, got, want)
		}
	}
}

func BenchmarkEventID(b *testing.B) {
	b.ReportAllocs()
	for i := range b.N {
		_ = EventID("account-000001", "cmd-1-2", i&3)
	}
}

// BenchmarkEventIDNewSHA1 is the uuid.NewSHA1 call EventID computes without
// allocating, for comparison.
func BenchmarkEventIDNewSHA1(b *testing.B) {
	b.ReportAllocs()
	for i := range b.N {
		_ = uuid.NewSHA1(eventNamespace, []byte("account-000001"+"\x00"+"cmd-1-2"+"\x00"+strconv.Itoa(i&3)))
	}
}
