package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/spf13/cobra"
)

func newCardsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cards",
		Short: "The card registry: what each card holds, its custodian, last verified, default-PIN and blocked flags",
		Long: `The card registry, derived from the events: each card's serial, its
label and custodian ('ceremony cards assign'), the key set and share it
holds and the set's status, when a share check last verified it (and
its PW3 retry counter then), which PINs are still the factory default,
which are blocked, and whether a write's outcome is unknown.`,
		Args: noArgs,
	}
	c := storeFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runCards(cmd.Context(), c, cmd.OutOrStdout())
	}
	cmd.AddCommand(newCardsAssignCmd())
	return cmd
}

func runCards(ctx context.Context, c *common, out io.Writer) error {
	if cp := c.readSealed(out, kinds.PartInventory); cp != nil {
		return printCards(inventory.Restore(cp.Inventory), out)
	}
	a, err := c.openViews(ctx, out)
	if err != nil {
		return err
	}
	defer a.close()
	return printCards(a.views.Inventory, out)
}

func printCards(inv *inventory.Inventory, out io.Writer) error {
	rows := [][]string{{"SERIAL", "LABEL", "CUSTODIAN", "KEY SET", "SET STATUS", "SHARE", "LAST VERIFIED", "DEFAULT PIN", "BLOCKED", "NOTE"}}
	for _, cr := range inv.Cards() {
		set, status, share := "-", "-", "-"
		if cr.KeySetID != "" {
			set, share = cr.KeySetID[:8], fmt.Sprint(cr.ShareIndex)
			if ks, ok := inv.KeySet(cr.KeySetID); ok {
				status = ks.Status
			}
		}
		note := ""
		switch {
		case cr.Uncertain:
			note = "a write's outcome is unknown: verify this card"
		case cr.Void:
			note = "holds a void set: may be overwritten"
		}
		verified := "-"
		if !cr.LastVerified.IsZero() {
			verified = fmt.Sprintf("%s (%d tries)", cr.LastVerified.UTC().Format("2006-01-02"), cr.VerifiedTries)
		}
		rows = append(rows, []string{pinpad.Escape(cr.Serial), pinpad.Escape(dash(cr.Label)), pinpad.Escape(dash(cr.Custodian)), set, status, share, verified, flags(cr.DefaultPIN), flags(cr.Blocked), pinpad.Escape(note)})
	}
	return writeColumns(out, rows)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func flags(m map[string]bool) string {
	var on []string
	for k, v := range m {
		if v {
			on = append(on, k)
		}
	}
	sort.Strings(on)
	if len(on) == 0 {
		return "-"
	}
	return strings.Join(on, ",")
}
