package quote_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/idemkit/idem/internal/quote"
)

func TestTrunc(t *testing.T) {
	if got := quote.Trunc("short"); got != "short" {
		t.Fatalf("Trunc(short) = %q", got)
	}
	long := strings.Repeat("é", 1<<20) // 2 MiB, a rune boundary every 2 bytes
	got := quote.Trunc(long)
	if len(got) > quote.Max+32 {
		t.Fatalf("Trunc kept %d bytes", len(got))
	}
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "...(2097152 bytes)") {
		t.Fatalf("Trunc = %q", got)
	}
	if q := quote.Q(long); len(q) > quote.Max+40 {
		t.Fatalf("Q kept %d bytes", len(q))
	}
}
