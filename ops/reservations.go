package ops

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/reservation"
)

// States of a claim in the reservations listing.
const (
	claimRecorded = "recorded" // a command of the claim wrote to its owner stream
	claimPending  = "pending"  // none did yet, and the claim is younger than --older-than
	claimStale    = "stale"    // none did, and the claim is older: reconcile releases it
)

// claimRow is one held key.
type claimRow struct {
	Scope       string    `json:"scope"`
	Key         string    `json:"key"`
	Owner       string    `json:"owner"`
	CommandID   string    `json:"command_id"`
	Joined      []string  `json:"joined,omitempty"`
	OwnerStream string    `json:"owner_stream,omitempty"`
	ClaimedAt   time.Time `json:"claimed_at"`
	JoinedAt    time.Time `json:"joined_at,omitzero"`
	Stream      string    `json:"stream"`
	State       string    `json:"state"`
}

func claimRowOf(c reservation.Claim, state string) claimRow {
	return claimRow{Scope: c.Scope, Key: c.Key, Owner: c.Owner, CommandID: c.CommandID, Joined: c.Joined,
		OwnerStream: c.OwnerStream, ClaimedAt: c.ClaimedAt, JoinedAt: c.JoinedAt, Stream: c.Stream, State: state}
}

// listClaims gathers the held keys with their state; staleOnly keeps the stale;
// limit stops after that many (0: all).
func listClaims(ctx context.Context, store eventstore.Store, olderThan time.Duration, staleOnly bool, limit int) ([]claimRow, error) {
	r, err := reservation.New(store)
	if err != nil {
		return nil, err
	}
	claims, err := r.Claims(ctx)
	if err != nil {
		return nil, err
	}
	recorded := command.ClaimRecorded(store)
	cutoff := time.Now().Add(-olderThan)
	rows := []claimRow{}
	for _, c := range claims {
		ok, err := recorded(ctx, c)
		if err != nil {
			return nil, err
		}
		state := claimRecorded
		switch {
		case ok:
		case c.ClaimedAt.After(cutoff) || c.JoinedAt.After(cutoff):
			state = claimPending
		default:
			state = claimStale
		}
		if !staleOnly || state == claimStale {
			rows = append(rows, claimRowOf(c, state))
		}
		if limit > 0 && len(rows) == limit {
			break
		}
	}
	return rows, nil
}

func renderClaims(w io.Writer, rows []claimRow, none string) error {
	if len(rows) == 0 {
		printf(w, "%s\n", none)
		return nil
	}
	t := newTable(w, "SCOPE", "KEY", "OWNER", "COMMAND", "JOINED", "CLAIMED", "STATE")
	for _, r := range rows {
		t.row(r.Scope, r.Key, r.Owner, r.CommandID, orDash(strings.Join(r.Joined, ",")), when(r.ClaimedAt), r.State)
	}
	return t.flush()
}

func reservationsCommand(c *config) *cobra.Command {
	var olderThan time.Duration
	var limit int
	var staleOnly, asJSON bool
	cmd := &cobra.Command{
		Use:   "reservations",
		Short: "List the reservation claims of unique keys, and the stale ones",
		Long: `List the keys held in reservation streams (unique keys across aggregates, G5): scope,
key, owner, the command that claimed it and those that joined, when, and a state:

  recorded  a command of the claim wrote to its owner's stream: the key is in use
  pending   none has yet, and the claim is younger than --older-than: in flight
  stale     none has, and the claim is older: a handler crashed between the claim
            and its write and the command was never retried; reconcile releases it

Pick --older-than well above your longest command, retries included.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < 0 || limit < 0 {
				return usagef("--older-than %v, --limit %d: want 0 or more", olderThan, limit)
			}
			return c.run(cmd, needs{store: readOnly}, func(ctx context.Context, s *session) error {
				rows, err := listClaims(ctx, s.store, olderThan, staleOnly, limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				none := "no claims"
				if staleOnly {
					none = "no stale claims"
				}
				return renderClaims(cmd.OutOrStdout(), rows, none)
			})
		},
	}
	cmd.PersistentFlags().DurationVar(&olderThan, "older-than", time.Hour, "age from which a claim no command wrote is stale")
	cmd.Flags().BoolVar(&staleOnly, "stale", false, "list the stale claims only")
	cmd.Flags().IntVar(&limit, "limit", 0, "most claims to list (0: all)")
	addJSON(cmd, &asJSON)
	cmd.AddCommand(reconcileReservationsCommand(c, &olderThan))
	return cmd
}

func reconcileReservationsCommand(c *config, olderThan *time.Duration) *cobra.Command {
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Release the stale claims (--dry-run: list what would be released)",
		Long: `Release each stale claim: older than --older-than, none of whose commands was recorded in
its owner's stream. Each release is an event appended to the claim's reservation stream,
with a revision check: a claim that changed meanwhile is left alone. --dry-run lists them
and changes nothing.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if *olderThan < 0 {
				return usagef("--older-than %v: want 0 or more", *olderThan)
			}
			access := readWrite
			if dryRun {
				access = readOnly
			}
			return c.run(cmd, needs{store: access}, func(ctx context.Context, s *session) error {
				rows, err := reconcileClaims(ctx, s.store, *olderThan, dryRun)
				if err != nil {
					if len(rows) > 0 { // released before the failure: say which
						_ = renderClaims(cmd.OutOrStdout(), rows, "")
					}
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				if err := renderClaims(cmd.OutOrStdout(), rows, "no stale claims"); err != nil || len(rows) == 0 {
					return err
				}
				if dryRun {
					printf(cmd.OutOrStdout(), "dry run: %s would be released; nothing changed\n", claims(len(rows)))
				} else {
					printf(cmd.OutOrStdout(), "released %s\n", claims(len(rows)))
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the claims that would be released, change nothing")
	addJSON(cmd, &asJSON)
	return cmd
}

// reconcileClaims releases the stale claims, or lists them for a dry run.
func reconcileClaims(ctx context.Context, store eventstore.Store, olderThan time.Duration, dryRun bool) ([]claimRow, error) {
	r, err := reservation.New(store)
	if err != nil {
		return nil, err
	}
	judge := r.Reconcile
	if dryRun {
		judge = r.Stale
	}
	claims, err := judge(ctx, olderThan, command.ClaimRecorded(store))
	rows := []claimRow{}
	for _, cl := range claims {
		state := "released"
		if dryRun {
			state = claimStale
		}
		rows = append(rows, claimRowOf(cl, state))
	}
	return rows, err
}

// claims is "1 stale claim" or "n stale claims".
func claims(n int) string {
	if n == 1 {
		return "1 stale claim"
	}
	return strconv.Itoa(n) + " stale claims"
}
