package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/ceremonies/custody"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

// newCardsAssignCmd builds "cards assign": it records, as an event, the
// custodian a card is assigned to and its label.
func newCardsAssignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "assign SERIAL",
		Short: "Assign a card to its custodian and label it (recorded as an event)",
		Long: `Assign a card to the person who keeps it (--custodian) and give it the
label written on it (--label), or change either: the manual's "assign a
smart card to another person". The assignment is an event (a card-assign
ceremony of one event), so the registry's history is in the audit log;
'ceremony cards', health and the report show the current custodian and
label. The card must be in the registry (it is registered when first
presented in a ceremony).`,
		Example: `  ceremony cards assign FFFE00005001 --custodian "Carol Custodian" --label "KS-2025 #1" --operator alice`,
		Args:    oneArg("one card serial ('ceremony cards' lists them)"),
	}
	c := storeFlags(cmd)
	fs := cmd.Flags()
	custodian := fs.String("custodian", "", "the person the card is assigned to")
	label := fs.String("label", "", "the label written on the card")
	operator := fs.String("operator", "", "who records the assignment (required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runCardsAssign(cmd.Context(), c, args[0], *custodian, *label, *operator, cmd.OutOrStdout())
	}
	return cmd
}

func runCardsAssign(ctx context.Context, c *common, serial, custodian, label, operator string, out io.Writer) error {
	if operator == "" {
		return usagef("--operator is required: the event records who assigned the card")
	}
	a, err := c.open(ctx, out)
	if err != nil {
		return err
	}
	defer a.close()
	ev, err := custody.New(a.views.Inventory, serial, custodian, label, operator)
	if err != nil {
		return usageOf(err)
	}
	id := "assign-" + engine.RandomID()[:8]
	if _, err := a.eng.Start(ctx, custody.Kind, id, events.SourceOperator, ev); err != nil {
		return fmt.Errorf("record the assignment of card %s: %w", serial, err)
	}
	fmt.Fprintf(out, "%s (recorded as %s)\n", custody.Describe(ev), id)
	return nil
}
