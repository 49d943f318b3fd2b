package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmbackup"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/ceremonies/usercard"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/spf13/cobra"
)

func newShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "One ceremony's state",
		Long: `One ceremony's state as its events give it: kind, phase, operator, quorum,
key set and KCV, cards written and read, refusals, wrong PINs, timeouts,
the step it waits for and, if it has not ended, how to resume or abort it.`,
		Example: `  ceremony show gen-1a2b3c4d`,
		Args:    ceremonyArg,
	}
	c := storeFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runShow(cmd.Context(), c, args[0], cmd.OutOrStdout())
	}
	return cmd
}

func runShow(ctx context.Context, c *common, id string, out io.Writer) error {
	a, inst, err := c.openCeremony(ctx, out, id)
	if err != nil {
		return err
	}
	defer a.close()
	sum := inst.Summary()
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("ceremony", sum.ID)
	row("kind", sum.Kind)
	row("phase", sum.Phase)
	row("started", sum.Started.Format(time.RFC3339))
	row("updated", sum.Updated.Format(time.RFC3339))
	row("events", sum.Events)
	var ended string
	inst.View(func(s engine.State) {
		switch st := s.(type) {
		case *backupkey.State:
			showBackupKey(row, st)
			ended = st.Ended
		case *hsmbackup.State:
			showHSMBackup(row, st)
			ended = st.Ended
		case *usercard.State:
			row("operator", st.Operator)
			row("slot", st.Slot)
			if st.Serial != "" {
				row("card", st.Serial)
			}
			if st.Key != "" {
				row("card key", st.Key)
			}
			ended = st.Ended
		case *pinchange.State:
			row("operator", st.Operator)
			row("slot", st.Slot)
			if st.Serial != "" {
				row("card", st.Serial)
			}
			if len(st.Refused) > 0 {
				row("new PINs refused", strings.Join(st.Refused, "; "))
			}
			if st.Pending {
				row("uncertain", "a change was sent with no recorded outcome: resume settles it on the card")
			}
			ended = st.Ended
		case *sharecopy.State:
			row("operator", st.Operator)
			if st.Source != "" {
				row("source", fmt.Sprintf("card %s, share %d of key set %s", st.Source, st.Index, st.KeySetID))
			}
			if st.Target != "" {
				row("target", st.Target)
			}
			ended = st.Ended
		}
	})
	if sum.OpenStep != "" {
		row("waiting for", fmt.Sprintf("%s until %s", sum.OpenStep, sum.Deadline.Format(time.RFC3339)))
	}
	if ended != "" {
		row("ended because", ended)
	}
	if !sum.Ended {
		row("next", fmt.Sprintf("ceremony resume %s  (or: ceremony abort %s --reason ...)", sum.ID, sum.ID))
	}
	return tw.Flush()
}

func showBackupKey(row func(string, any), st *backupkey.State) {
	row("operator", st.Operator)
	if st.Threshold > 0 {
		row("quorum", fmt.Sprintf("%d-of-%d", st.Threshold, st.Shares))
	}
	if st.KeySetID != "" {
		row("key set", st.KeySetID)
		row("KCV", st.KCV)
	}
	if len(st.Written) > 0 {
		row("shares written", indexSerials(st.Written))
	}
	if len(st.Accepted) > 0 {
		row("shares read", indexSerials(st.Accepted))
	}
	row("refused cards", st.Refusals)
	row("wrong PINs", st.WrongPINs)
	row("timeouts", st.Timeouts)
}

func showHSMBackup(row func(string, any), st *hsmbackup.State) {
	row("operator", st.Operator)
	row("HSM", st.HSM)
	row("file", st.File)
	if st.SHA256 != "" {
		row("file SHA-256", st.SHA256)
	}
	if st.KCV != "" {
		row("Backup Key KCV", st.KCV)
	}
	if len(st.Wrapped) > 0 {
		row("keys wrapped", strings.Join(st.Wrapped, ", "))
	}
	if len(st.Skipped) > 0 {
		row("keys skipped", strings.Join(st.Skipped, ", "))
	}
	if len(st.Restored) > 0 {
		row("keys restored", strings.Join(st.Restored, ", "))
	}
	if len(st.Failed) > 0 {
		row("keys not restored", strings.Join(st.Failed, ", "))
	}
}

func indexSerials(m map[int]string) string {
	idx := make([]int, 0, len(m))
	for i := range m {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	parts := make([]string, 0, len(idx))
	for _, i := range idx {
		parts = append(parts, fmt.Sprintf("%d:%s", i, m[i]))
	}
	return strings.Join(parts, " ")
}
