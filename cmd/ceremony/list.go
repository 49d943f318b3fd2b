package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
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
	if cp := c.readSealed(out, kinds.PartCeremonies); cp != nil {
		engine.SortCeremonies(cp.Ceremonies)
		return writeList(out, cp.Ceremonies)
	}
	a, err := c.openViews(ctx, out, kinds.PartCeremonies)
	if err != nil {
		return err
	}
	defer a.close()
	return writeList(out, a.eng.Ceremonies())
}

// writeList writes the ceremonies, in the order given, as list shows them.
func writeList(out io.Writer, list []engine.CeremonySummary) error {
	rows := [][]string{{"ID", "KIND", "PHASE", "STARTED", "UPDATED", "EVENTS", "WAITING FOR"}}
	for _, s := range list {
		waiting := "-"
		if s.OpenStep != "" {
			waiting = fmt.Sprintf("%s (deadline %s)", s.OpenStep, s.Deadline.Format(time.RFC3339))
		}
		rows = append(rows, []string{s.ID, s.Kind, s.Phase, s.Started.Format(time.RFC3339), s.Updated.Format(time.RFC3339), strconv.FormatUint(s.Events, 10), waiting})
	}
	return writeColumns(out, rows)
}
