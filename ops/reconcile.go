package ops

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idemkit/idem/projection"
)

func reconcileCommand(c *config) *cobra.Command {
	var rows int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reconcile PROJECTION",
		Short: "Compare the live read model with a shadow copy built from history",
		Long: `Build a shadow copy of the projection from history with this binary's code (never shown to
readers, dropped afterwards) and compare it, table by table and row by row, with the live
read model at the live checkpoint: rows missing from the live tables, extra rows, and
rows that differ. The live generation is only read; while the last events are applied to
the shadow and the tables compared, its writers wait.

Exit status 1 when any row differs, 0 when none does. The count of mismatches is added to
the metric idem.projection.reconcile.mismatches (by idem.projection and idem.kind).`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rows < 0 {
				return usagef("--rows %d: want 0 or more", rows)
			}
			view := newProgressView(cmd.ErrOrStderr(), "reconcile "+args[0])
			n := needs{store: readOnly, read: readWrite, app: true,
				runnerOpts: []projection.Option{projection.WithProgressInterval(view.interval())}, logTo: view}
			return c.run(cmd, n, func(ctx context.Context, s *session) error {
				if err := checkProjection(s.runner, args[0]); err != nil {
					return err
				}
				rep, err := s.runner.Reconcile(ctx, args[0], projection.WithReconcileProgress(view.update), projection.WithReconcileRows(rows))
				view.end()
				if err != nil {
					return err
				}
				recordMismatches(ctx, c.meter, rep)
				if asJSON {
					err = writeJSON(cmd.OutOrStdout(), reconcileJSON(rep))
				} else {
					err = renderReconcile(cmd.OutOrStdout(), rep)
				}
				if err == nil && rep.Mismatches() > 0 {
					return errMismatch
				}
				return err
			})
		},
	}
	cmd.Flags().IntVar(&rows, "rows", projection.DefaultReconcileRows, "mismatched rows of each kind to show per table (all are counted)")
	addJSON(cmd, &asJSON)
	return cmd
}

// reconcileReport is the JSON form of a reconciliation.
type reconcileReport struct {
	Projection string                 `json:"projection"`
	Live       int                    `json:"live_generation"`
	Shadow     int                    `json:"shadow_generation"`
	Checkpoint string                 `json:"checkpoint"`
	Head       string                 `json:"head"`
	Events     uint64                 `json:"events"`
	Mismatches int                    `json:"mismatches"`
	Tables     []projection.TableDiff `json:"tables"`
}

func reconcileJSON(rep projection.ReconcileReport) reconcileReport {
	return reconcileReport{Projection: rep.Projection, Live: rep.Live, Shadow: rep.Shadow, Checkpoint: rep.Checkpoint.String(),
		Head: rep.Head.String(), Events: rep.Events, Mismatches: rep.Mismatches(), Tables: rep.Tables}
}

func renderReconcile(w io.Writer, rep projection.ReconcileReport) error {
	printf(w, "reconcile %s: live generation %d compared with generation %d, rebuilt from history (%d events), at checkpoint %s (head %s)\n",
		rep.Projection, rep.Live, rep.Shadow, rep.Events, pos(rep.Checkpoint), pos(rep.Head))
	t := newTable(w, "TABLE", "MISSING", "EXTRA", "DIFFERENT")
	for _, d := range rep.Tables {
		t.row(d.Table, strconv.Itoa(d.Missing), strconv.Itoa(d.Extra), strconv.Itoa(d.Different))
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, d := range rep.Tables {
		for _, r := range d.Rows {
			printf(w, "%s\n", mismatchLine(d, r))
		}
	}
	var missing, extra, different int
	for _, d := range rep.Tables {
		missing, extra, different = missing+d.Missing, extra+d.Extra, different+d.Different
	}
	if rep.Mismatches() == 0 {
		printf(w, "OK: the live read model is what history gives\n")
		return nil
	}
	rows := "rows"
	if rep.Mismatches() == 1 {
		rows = "row"
	}
	printf(w, "MISMATCH: %d %s (%d missing from the live tables, %d extra, %d different)\n", rep.Mismatches(), rows, missing, extra, different)
	return nil
}

// mismatchLine describes one mismatched row.
func mismatchLine(d projection.TableDiff, r projection.RowDiff) string {
	switch r.Kind {
	case projection.Missing:
		return fmt.Sprintf("  %s: missing   %s", d.Table, rowText(d.Columns, r.Rebuilt))
	case projection.Extra:
		return fmt.Sprintf("  %s: extra     %s", d.Table, rowText(d.Columns, r.Live))
	}
	return fmt.Sprintf("  %s: different %s, rebuilt %s", d.Table, rowText(d.Columns, r.Live), rowText(d.Columns, r.Rebuilt))
}

// rowText is "(col=value, ...)".
func rowText(cols []string, vals []any) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		var v any
		if i < len(vals) {
			v = vals[i]
		}
		parts[i] = c + "=" + value(v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
