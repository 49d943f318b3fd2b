package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func cmdList(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs, c := newFlags("list", out)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	a, err := c.open(ctx, out)
	if err != nil {
		return err
	}
	defer a.close()
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tPHASE\tSTARTED\tUPDATED\tEVENTS\tWAITING FOR")
	for _, s := range a.eng.Ceremonies() {
		waiting := "-"
		if s.OpenStep != "" {
			waiting = fmt.Sprintf("%s (deadline %s)", s.OpenStep, s.Deadline.Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Kind, s.Phase, s.Started.Format(time.RFC3339), s.Updated.Format(time.RFC3339), s.Events, waiting)
	}
	return tw.Flush()
}
