package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/events"
)

func cmdAbort(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs, c := newFlags("abort", out)
	reason := fs.String("reason", "", "why the ceremony is aborted (recorded; required)")
	by := fs.String("operator", "", "who aborts it (recorded; required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *reason == "" || *by == "" {
		return usagef("--reason and --operator are required: the abort is recorded with both")
	}
	a, inst, err := c.openCeremony(ctx, out, "abort", pos)
	if err != nil {
		return err
	}
	defer a.close()
	if inst.Ended() {
		return fmt.Errorf("ceremony %s has already ended (%s): nothing to abort", inst.ID(), inst.Phase())
	}
	if err := inst.Record(ctx, events.SourceOperator, &events.CeremonyAborted{Reason: *reason, By: *by}); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s aborted.\n", inst.ID())
	return nil
}
