package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
)

func newListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Every ceremony with its phase",
		Long:  "List every ceremony in the event store: its kind, phase, when it started and was last updated, its number of events and the step it waits for, if any.",
		Args:  noArgs,
	}
	c := storeFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runList(cmd.Context(), c, cmd.OutOrStdout())
	}
	return cmd
}

func runList(ctx context.Context, c *common, out io.Writer) error {
	a, err := c.openViews(ctx, out, kinds.PartCeremonies)
	if err != nil {
		return err
	}
	defer a.close()
	// tabwriter writes each cell and its padding apart: buffered, 50,000
	// rows are one write per 4 KiB, not some 700,000 system calls.
	bw := bufio.NewWriterSize(out, 64<<10)
	tw := tabwriter.NewWriter(bw, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tPHASE\tSTARTED\tUPDATED\tEVENTS\tWAITING FOR")
	for _, s := range a.eng.Ceremonies() {
		waiting := "-"
		if s.OpenStep != "" {
			waiting = fmt.Sprintf("%s (deadline %s)", s.OpenStep, s.Deadline.Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Kind, s.Phase, s.Started.Format(time.RFC3339), s.Updated.Format(time.RFC3339), s.Events, waiting)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}
