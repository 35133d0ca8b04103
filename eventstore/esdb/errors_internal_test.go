package esdb

import (
	"context"
	"errors"
	"fmt"
	"testing"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestParseActual(t *testing.T) {
	cases := []struct {
		text string
		want eventstore.ExpectedRevision
		ok   bool
	}{
		{"[ErrorCodeWrongExpectedVersion] an append request failed the optimistic concurrency on the server: wrong expected version: expecting '5' but got '1'", eventstore.Exact(1), true},
		{"wrong expected version: expecting '0' but got 'no_stream'", eventstore.NoStream(), true},
		{"wrong expected version: expecting 'no_stream' but got '18446744073709551615'", eventstore.Exact(18446744073709551615), true},
		{"wrong expected version: expecting 'any' but got '-1'", eventstore.ExpectedRevision{}, false},
		{"something else", eventstore.ExpectedRevision{}, false},
	}
	for _, c := range cases {
		got, ok := parseActual(errors.New(c.text))
		if got != c.want || ok != c.ok {
			t.Errorf("parseActual(%q) = %v, %v; want %v, %v", c.text, got, ok, c.want, c.ok)
		}
	}
}

func TestMapError(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "connection reset")
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"raw gRPC unavailable (subscription drops)", unavailable, eventstore.ErrUnavailable},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow"), eventstore.ErrUnavailable},
		{"wrapped tombstone status", fmt.Errorf("failed to perform delete, details: %w", status.Error(codes.FailedPrecondition, "Event stream 's' is deleted.")), eventstore.ErrStreamDeleted},
	}
	for _, c := range cases {
		got := mapError(context.Background(), c.err)
		if !errors.Is(got, c.want) || !errors.Is(got, c.err) {
			t.Errorf("%s: mapError = %v; want it to match %v and keep the original", c.name, got, c.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := mapError(ctx, unavailable); !errors.Is(got, context.Canceled) {
		t.Errorf("cancelled context: %v", got)
	}
	if !retryable(unavailable) || retryable(status.Error(codes.PermissionDenied, "no")) || retryable(errors.New("plain")) {
		t.Error("retryable misclassifies")
	}
}

func TestServerSizeCountsTypesTwice(t *testing.T) {
	evs := []eventstore.EventData{{Type: "Ab", Data: make([]byte, 10), Metadata: make([]byte, 3)}, {Type: "é", Data: nil}}
	if got := serverSize(evs); got != 10+3+2*2+2*1 {
		t.Fatalf("serverSize = %d", got)
	}
}

func TestServerFilter(t *testing.T) {
	if f := serverFilter(backend.ReadOptions{}); f.Regex != `^[^\$].*` || f.Type != esdbclient.EventFilterType {
		t.Errorf("default filter %+v, want the client's ExcludeSystemEventsFilter", f)
	}
	if f := serverFilter(backend.ReadOptions{StreamPrefixes: []string{"a-", "b-"}}); f.Type != esdbclient.StreamFilterType || len(f.Prefixes) != 2 {
		t.Errorf("prefix filter %+v", f)
	}
	if f := serverFilter(backend.ReadOptions{EventTypes: []string{"x.Y", "Z"}}); f.Regex != `^(?:x\.Y|Z)$` {
		t.Errorf("type filter %+v", f)
	}
}
