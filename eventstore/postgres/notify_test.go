package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// liveEvents subscribes from the start and hands over the live events (after
// CaughtUp) until t ends.
func liveEvents(t *testing.T, s *postgres.Store) <-chan eventstore.RecordedEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan eventstore.RecordedEvent, 16)
	caughtUp := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg, err := range s.SubscribeAll(ctx, eventstore.Start()) {
			if err != nil {
				return
			}
			if msg.CaughtUp {
				close(caughtUp)
				continue
			}
			select {
			case out <- msg.Event:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-caughtUp:
	case <-time.After(10 * time.Second):
		t.Fatal("no CaughtUp")
	}
	return out
}

// receive waits up to within for the event with id.
func receive(t *testing.T, events <-chan eventstore.RecordedEvent, want eventstore.EventData, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(within)
	for {
		select {
		case e := <-events:
			if e.ID == want.ID {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("event %s not delivered within %s", want.ID, within)
		}
	}
}

// TestNotificationsWakeOtherStores: an append through one Store wakes a
// subscription on another Store (another replica) at once, through
// LISTEN/NOTIFY: its poll interval is an hour.
func TestNotificationsWakeOtherStores(t *testing.T) {
	schema := pgtest.Schema(t)
	writer := pgtest.OpenSchema(t, schema)
	reader := pgtest.OpenSchema(t, schema, postgres.WithPollInterval(time.Hour))
	events := liveEvents(t, reader)
	for range 3 {
		ev := newEvent("Live")
		_, err := writer.Append(t.Context(), "s-"+ev.ID.String(), eventstore.NoStream(), ev)
		require.NoError(t, err)
		receive(t, events, ev, 10*time.Second)
	}
}

// TestPollingIsTheFallback: without notifications, a subscription still sees
// other Stores' appends, by polling.
func TestPollingIsTheFallback(t *testing.T) {
	schema := pgtest.Schema(t)
	writer := pgtest.OpenSchema(t, schema)
	reader := pgtest.OpenSchema(t, schema, postgres.WithoutNotifications(), postgres.WithPollInterval(100*time.Millisecond))
	events := liveEvents(t, reader)
	ev := newEvent("Live")
	_, err := writer.Append(t.Context(), "s-1", eventstore.NoStream(), ev)
	require.NoError(t, err)
	receive(t, events, ev, 10*time.Second)
}

// TestLostListenConnectionIsReplaced: the server terminates the LISTEN
// connection; the Store reconnects and notifications wake its subscriptions
// again (their poll interval is an hour), and nothing appended meanwhile is lost.
func TestLostListenConnectionIsReplaced(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	writer := pgtest.OpenSchema(t, schema)
	reader := pgtest.OpenSchema(t, schema, postgres.WithPollInterval(time.Hour))
	events := liveEvents(t, reader)
	first := newEvent("BeforeTheCut")
	_, err := writer.Append(ctx, "s-1", eventstore.NoStream(), first)
	require.NoError(t, err)
	receive(t, events, first, 10*time.Second)

	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var killed int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %' || $1 || '%'`, postgres.NotifyChannel(schema)).Scan(&killed)
	require.NoError(t, err)
	require.Equal(t, 1, killed, "one LISTEN connection for the store's subscriptions")
	during := newEvent("WhileReconnecting")
	_, err = writer.Append(ctx, "s-1", eventstore.Exact(0), during)
	require.NoError(t, err)
	receive(t, events, during, 15*time.Second) // the reconnected listener's first wake reads it
	after := newEvent("AfterTheCut")
	_, err = writer.Append(ctx, "s-1", eventstore.Exact(1), after)
	require.NoError(t, err)
	receive(t, events, after, 10*time.Second)
}
