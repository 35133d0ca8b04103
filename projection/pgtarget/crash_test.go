package pgtarget_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/internal/crashtest"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// The crash test's log: crashEvents events over crashStreams streams, seeded.
const (
	crashEvents, crashStreams = 3000, 40
	crashSeed                 = 42
)

// Environment of the crash test's child: the schemas of the store and of the
// read model, and the catch-up batch size.
const (
	envCrashStore = "IDEM_PGTARGET_CRASH_STORE"
	envCrashRead  = "IDEM_PGTARGET_CRASH_READ"
	envCrashBatch = "IDEM_PGTARGET_CRASH_BATCH"
)

// ledger is a row per event (entries: a duplicate would break its keys, a gap
// shows in the revisions) and a per-stream counter and total (balances: an event
// applied twice or never shows there).
func ledger() projection.Projection[Tx] {
	return projection.Projection[Tx]{
		Name: "ledger", Version: 1, Tables: []string{"balances", "entries"},
		Setup: func(ctx context.Context, tx Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {balances} (stream text PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL);
				CREATE TABLE {entries} (event_id uuid PRIMARY KEY, stream text NOT NULL, revision bigint NOT NULL,
					amount bigint NOT NULL, UNIQUE (stream, revision))`)
			return err
		},
		Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
			var body struct{ Amount int64 }
			if err := json.Unmarshal(e.Data, &body); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO {entries} (event_id, stream, revision, amount) VALUES ($1, $2, $3, $4)`,
				e.ID, e.Stream, int64(e.Revision), body.Amount); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO {balances} (stream, n, total) VALUES ($1, 1, $2)
				ON CONFLICT (stream) DO UPDATE SET n = {balances}.n + 1, total = {balances}.total + excluded.total`, e.Stream, body.Amount)
			return err
		},
	}
}

// TestCrashChild is the child process of TestCrashBetweenApplyAndCommit: it
// catches the ledger up from the PostgreSQL store into the read model, in the
// schemas the parent gives, until it is killed or done.
func TestCrashChild(t *testing.T) {
	crashtest.Child(t)
	ctx := context.Background()
	store := pgtest.OpenSchema(t, os.Getenv(envCrashStore))
	tg, err := pgtarget.Open(ctx, pgtest.URL(t), pgtarget.WithSchema(os.Getenv(envCrashRead)))
	require.NoError(t, err)
	batch, err := strconv.Atoi(os.Getenv(envCrashBatch))
	require.NoError(t, err)
	p := ledger()
	inner := p.Handle
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		if err := inner(ctx, tx, e); err != nil {
			return err
		}
		// Count the attempt outside the transaction: it stays when the batch is lost.
		if _, err := tg.Pool().Exec(ctx, `UPDATE `+pgx.Identifier{tg.Schema(), "attempts"}.Sanitize()+` SET n = n + 1`); err != nil {
			return err
		}
		crashtest.Point()
		// Spend time between the writes and the commit, so that random kills land there.
		time.Sleep(50 * time.Microsecond)
		return nil
	}
	r, err := projection.NewRunner(store, tg, quiet, projection.WithCatchUpBatchSize(batch))
	require.NoError(t, err)
	require.NoError(t, r.Add(p))
	require.NoError(t, r.CatchUp(ctx))
}

// A process catching a projection up from the PostgreSQL store into a pgtarget
// read model is killed (SIGKILL) between a handler's writes and the commit, and
// at random moments, then restarted, again and again. In the end every event was
// applied exactly once (G8: the checkpoint and the guards commit with the read
// model; the server rolls back the transaction of a killed client), though
// handlers ran more often than that (counted outside the transactions), and the
// read model is what a rebuild from history gives.
func TestCrashBetweenApplyAndCommit(t *testing.T) {
	ctx := t.Context()
	storeSchema, readSchema := pgtest.Schema(t), pgtest.Schema(t)
	store := pgtest.OpenSchema(t, storeSchema)
	appends, want := crashtest.Workload(crashSeed, crashEvents, crashStreams)
	for _, a := range appends {
		_, err := store.Append(ctx, a.Stream, eventstore.Any(), a.Events...)
		require.NoError(t, err)
	}
	head, err := store.Head(ctx)
	require.NoError(t, err)
	db := pool(t)
	attempts := pgx.Identifier{readSchema, "attempts"}.Sanitize()
	pgtest.Exec(t, `CREATE SCHEMA `+readSchema+`; CREATE TABLE `+attempts+` (n bigint NOT NULL); INSERT INTO `+attempts+` VALUES (0)`)
	generations := pgx.Identifier{readSchema, "idem_projection_generations"}.Sanitize()
	checkpoint := func() uint64 {
		var c uint64
		if err := db.QueryRow(ctx, `SELECT max(commit_pos) FROM `+generations+` WHERE name = 'ledger'`).Scan(&c); err != nil {
			return 0 // no bookkeeping yet, or no generation
		}
		return c
	}
	seed := crashtest.Seed(t)
	res := crashtest.Run(t, crashtest.Config{
		Test: "TestCrashChild",
		Env:  []string{envCrashStore + "=" + storeSchema, envCrashRead + "=" + readSchema},
		RunEnv: func(rng *rand.Rand) []string {
			return []string{envCrashBatch + "=" + strconv.Itoa(16+rng.IntN(200))}
		},
		Progress: checkpoint, Done: head.Commit,
		Kills: 8, MaxPause: 200, Seed: seed,
	})
	t.Log(res)
	require.GreaterOrEqual(t, res.Midway, 4, "kills that landed while events were being applied")
	require.GreaterOrEqual(t, res.Paused, 4, "kills between a handler's writes and the commit")
	var tries int64
	require.NoError(t, db.QueryRow(ctx, `SELECT n FROM `+attempts).Scan(&tries))
	t.Logf("%d events applied in %d attempts", crashEvents, tries)
	require.GreaterOrEqual(t, tries, int64(crashEvents+res.Paused), "the events of each batch a kill cut short were handled again")

	tg := openSchema(t, readSchema)
	checkLedger(t, tg, want)
	before := dumpLedger(t, tg)
	r, err := projection.NewRunner(store, tg, quiet)
	require.NoError(t, err)
	require.NoError(t, r.Add(ledger()))
	rep, err := r.Reconcile(ctx, "ledger")
	require.NoError(t, err)
	require.Zero(t, rep.Mismatches(), "the live read model against a shadow rebuilt from history: %+v", rep.Tables)
	require.EqualValues(t, crashEvents, rep.Events)
	require.NoError(t, r.Rebuild(ctx, "ledger"))
	gens, err := tg.Generations(ctx, "ledger")
	require.NoError(t, err)
	require.Equal(t, projection.Active, gens[len(gens)-1].State, "the rebuilt generation is live")
	require.Greater(t, gens[len(gens)-1].Number, 1)
	require.Equal(t, before, dumpLedger(t, tg), "the read model after the kills is what a rebuild gives")
}

// checkLedger checks that the ledger's views hold every event of want exactly
// once: each stream's counter and total, and its entries with revisions 0 to n-1,
// no duplicate and no gap; and that the guards stand at each stream's last
// revision.
func checkLedger(t *testing.T, tg *pgtarget.Target, want map[string][2]int64) {
	t.Helper()
	ctx := t.Context()
	q := func(table string) string { return pgx.Identifier{tg.Schema(), table}.Sanitize() }
	rows, err := tg.Pool().Query(ctx, `SELECT b.stream, b.n, b.total, e.n, e.distinct_revisions, e.min_revision, e.max_revision, g.revision
		FROM `+q("balances")+` b
		LEFT JOIN (SELECT stream, count(*) AS n, count(DISTINCT revision) AS distinct_revisions,
			min(revision) AS min_revision, max(revision) AS max_revision FROM `+q("entries")+` GROUP BY stream) e USING (stream)
		LEFT JOIN (SELECT stream, revision FROM `+q("idem_projection_guards")+` WHERE name = 'ledger') g USING (stream)
		ORDER BY b.stream`)
	require.NoError(t, err)
	got := map[string][2]int64{}
	for rows.Next() {
		var s string
		var n, total, entries, distinct, lo, hi, guard int64
		require.NoError(t, rows.Scan(&s, &n, &total, &entries, &distinct, &lo, &hi, &guard))
		got[s] = [2]int64{n, total}
		require.Equal(t, []int64{n, n, 0, n - 1, n - 1}, []int64{entries, distinct, lo, hi, guard},
			"stream %s: entries (count, distinct revisions, first, last revision) and guard", s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, want, got, "(count, total) per stream")
	var entries int64
	require.NoError(t, tg.Pool().QueryRow(ctx, `SELECT count(*) FROM `+q("entries")).Scan(&entries))
	require.EqualValues(t, crashEvents, entries)
}

// dumpLedger renders the ledger's views, sorted.
func dumpLedger(t *testing.T, tg *pgtarget.Target) string {
	t.Helper()
	var b strings.Builder
	for _, query := range []string{
		`SELECT stream || ' ' || n || ' ' || total FROM %s ORDER BY stream`,
		`SELECT event_id || ' ' || stream || ' ' || revision || ' ' || amount FROM %s ORDER BY event_id`,
	} {
		table := "balances"
		if strings.Contains(query, "event_id") {
			table = "entries"
		}
		rows, err := tg.Pool().Query(t.Context(), fmt.Sprintf(query, pgx.Identifier{tg.Schema(), table}.Sanitize()))
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		fmt.Fprintf(&b, "%s (%d rows)\n%s\n", table, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}
