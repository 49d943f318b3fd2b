package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies/health"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/spf13/cobra"
)

// newHealthCmd builds "health", which prints the open findings:
// inconsistent states and quorum risks derived from every event. It exits
// 5 while a critical one is open.
func newHealthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Open findings; exit 5 if one is critical",
		Long: `The open findings, derived from every event: side effects with no recorded
outcome, stalled ceremonies, key sets with no spare share or below their
quorum, blocked cards or cards on a factory-default PIN, an HSM holding
another Backup Key; each with what to do. Exits 5 while a critical
finding is open.

With --nats and a user of the system account (--nats-system-creds or
--nats-system-nkey), also each server's copy of the stream: a replica
missing events is critical, one behind or not answering a warning.`,
		Args: noArgs,
	}
	c := storeFlags(cmd)
	var sys systemUserFlags
	sys.register(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runHealth(cmd.Context(), c, &sys, cmd.OutOrStdout())
	}
	return cmd
}

func runHealth(ctx context.Context, c *common, sys *systemUserFlags, out io.Writer) error {
	if err := sys.check(c); err != nil {
		return err
	}
	var fs2 []health.Finding
	if cp := c.readSealed(out, kinds.Parts...); cp != nil {
		views, err := cp.Restore()
		if err != nil {
			return err
		}
		engine.SortCeremonies(cp.Ceremonies)
		fs2 = append(views.FindingsAtRest(cp.Ceremonies, time.Now()), backupFindings(filepath.Dir(string(c.cpDirFor())))...)
	} else {
		a, err := c.openViews(ctx, out)
		if err != nil {
			return err
		}
		defer a.close()
		fs2 = append(a.views.Findings(a.eng, time.Now()), backupFindings(filepath.Dir(string(a.cpDir)))...)
		fs2 = append(fs2, sys.replicaFindings(ctx, c, a.store)...)
	}
	if len(fs2) == 0 {
		fmt.Fprintln(out, "No findings: every side effect has an outcome, every live key set has a spare share, no card is blocked or on a default PIN.")
		return nil
	}
	rows := [][]string{{"SEVERITY", "SUBJECT", "WHAT", "WHAT TO DO"}}
	critical := 0
	for _, f := range fs2 {
		if f.Severity == health.Critical {
			critical++
		}
		rows = append(rows, []string{f.Severity, pinpad.Escape(f.Subject), pinpad.Escape(f.What), pinpad.Escape(f.Recovery)})
	}
	if err := writeColumns(out, rows); err != nil {
		return err
	}
	if critical > 0 {
		return &codeError{exitCritical, fmt.Errorf("%d critical finding(s) open", critical)}
	}
	return nil
}
