package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

func newAbortCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "abort ID",
		Short: "End a ceremony; --reason says why",
		Long: `End a ceremony that has not ended: the abort is recorded with the reason
and who aborted it. A ceremony that has ended cannot be aborted.`,
		Example: `  ceremony abort gen-1a2b3c4d --reason "operator left" --operator carol`,
		Args:    ceremonyArg,
	}
	c := storeFlags(cmd)
	reason := cmd.Flags().String("reason", "", "why the ceremony is aborted (recorded; required)")
	by := cmd.Flags().String("operator", "", "who aborts it (recorded; required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runAbort(cmd.Context(), c, args[0], *reason, *by, cmd.OutOrStdout())
	}
	return cmd
}

func runAbort(ctx context.Context, c *common, id, reason, by string, out io.Writer) error {
	if reason == "" || by == "" {
		return usagef("--reason and --operator are required: the abort is recorded with both")
	}
	// The whole store, not this ceremony alone: the abort may void a key
	// set, and the inventory must know its cards to name them.
	a, inst, err := c.openCeremony(ctx, out, id)
	if err != nil {
		return err
	}
	defer a.close()
	if inst.Ended() {
		return fmt.Errorf("ceremony %s has already ended (%s): nothing to abort", inst.ID(), inst.Phase())
	}
	if err := inst.Record(ctx, events.SourceOperator, &events.CeremonyAborted{Reason: reason, By: by}); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s aborted.\n", inst.ID())
	printVoided(out, a, inst.ID())
	return nil
}

// printVoided names the key sets the abort voided and the cards that may
// be reused (ARCHITECTURE.md, "Ceremony semantics").
func printVoided(out io.Writer, a *app, id string) {
	for _, ks := range a.views.Inventory.KeySets() {
		if ks.Ceremony != id || ks.Status != inventory.KeySetVoid {
			continue
		}
		var cards []string
		for _, hs := range ks.Holders {
			cards = append(cards, hs...)
		}
		if len(cards) == 0 {
			continue
		}
		sort.Strings(cards)
		fmt.Fprintf(out, "Key set %s is void: its key is gone with the abort. These cards may be reused; the next generate overwrites them without confirmation: %s.\n", ks.ID, strings.Join(cards, ", "))
	}
}
