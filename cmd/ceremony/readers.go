package main

import (
	"encoding/hex"
	"fmt"
	"text/tabwriter"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc"
	"github.com/spf13/cobra"
)

// newReadersCmd builds "readers": it lists the PC/SC readers, the card in
// each, what the event log says it holds and its retry counters, without
// spending a PIN try.
func newReadersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "readers",
		Short: "PC/SC readers, the card in each, what it holds, its retry counters (no PIN try)",
		Long: `List the PC/SC readers and the card in each: its ATR and serial, what the
event store says it holds, and its PIN retry counters, read without
spending a PIN try. With --watch, then print cards coming and going and
readers lost, until interrupted.`,
		Args: noArgs,
	}
	c := storeFlags(cmd)
	watch := cmd.Flags().Bool("watch", false, "after the list, print cards coming and going and readers lost, until interrupted")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		readers, err := pcsc.Readers()
		if err != nil {
			return err
		}
		a, err := c.open(ctx, out)
		if err != nil {
			return err
		}
		defer a.close()
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "READER\tCARD\tSERIAL\tHOLDS\tPW1 TRIES\tPW3 TRIES\tNOTE")
		for _, r := range readers {
			if !r.Present {
				fmt.Fprintf(tw, "%s\t-\t\t\t\t\t\n", r.Name)
				continue
			}
			serial, pw1, pw3, note := probe(r.Name)
			holds := "-"
			if cr, ok := a.views.Inventory.Card(serial); ok && cr.KeySetID != "" {
				holds = fmt.Sprintf("share %d of %s", cr.ShareIndex, cr.KeySetID[:8])
				if ks, ok := a.views.Inventory.KeySet(cr.KeySetID); ok {
					holds += " (" + ks.Status + ")"
				}
			}
			fmt.Fprintf(tw, "%s\tATR %s\t%s\t%s\t%s\t%s\t%s\n", r.Name, hex.EncodeToString(r.ATR), serial, holds, pw1, pw3, note)
		}
		if err := tw.Flush(); err != nil || !*watch {
			return err
		}
		fmt.Fprintln(out, "Watching the readers (Ctrl-C ends):")
		return pcsc.Watch(ctx, func(ev pcsc.Event) error {
			line := fmt.Sprintf("%s  %-14s %q", ev.Time.Format("15:04:05.000"), ev.Kind, ev.Reader)
			if ev.Serial != "" {
				line += " serial " + ev.Serial
			}
			if ev.Err != nil {
				line += ": " + ev.Err.Error()
			}
			_, err := fmt.Fprintln(out, line)
			return err
		})
	}
	return cmd
}

// probe reads a card's serial and retry counters (GET DATA 4F and C4: no
// PIN try is spent).
func probe(reader string) (serial, pw1, pw3, note string) {
	slot := pcsc.NewSlot(reader)
	defer slot.Close()
	cl := openpgp.NewClient(slot.Transport())
	if err := cl.Select(); err != nil {
		return "?", "", "", "not an OpenPGP card: " + err.Error()
	}
	aid, err := cl.AID()
	if err != nil {
		return "?", "", "", err.Error()
	}
	st, err := cl.PWStatus()
	if err != nil {
		return aid.SerialString(), "?", "?", err.Error()
	}
	return aid.SerialString(), fmt.Sprint(st.TriesPW1), fmt.Sprint(st.TriesPW3), ""
}
