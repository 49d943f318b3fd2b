package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
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
	one, err := c.openRead(ctx, out, id)
	if err != nil {
		return err
	}
	defer one.close()
	inst := one.inst
	sum := inst.Summary()
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	// Values come from the store (names, reasons, labels): escaped, so no
	// control character or ANSI escape in them reaches the terminal.
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%s\n", pinpad.Escape(k), pinpad.Escape(fmt.Sprint(v))) }
	row("ceremony", sum.ID)
	row("kind", sum.Kind)
	row("phase", sum.Phase)
	row("started", sum.Started.Format(time.RFC3339))
	row("updated", sum.Updated.Format(time.RFC3339))
	row("events", sum.Events)
	k, err := kinds.Lookup(inst.Kind())
	if err != nil {
		return err
	}
	facts, err := k.Facts(inst)
	if err != nil {
		return err
	}
	var ended string
	for _, f := range facts {
		if f.Name == "ended because" {
			ended = f.Value // printed last, after what it waits for
			continue
		}
		row(f.Name, f.Value)
	}
	if sum.OpenStep != "" {
		row("waiting for", fmt.Sprintf("%s until %s", sum.OpenStep, sum.Deadline.Format(time.RFC3339)))
	}
	if ended != "" {
		row("ended because", ended)
	}
	if !sum.Ended {
		row("next", fmt.Sprintf("ceremony resume %s --operator NAME  (or: ceremony abort %s --reason ... --operator NAME)", sum.ID, sum.ID))
	}
	return tw.Flush()
}
