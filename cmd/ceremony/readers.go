package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pcsc"
	"github.com/spf13/cobra"
)

// newReadersCmd builds "readers": it lists the PC/SC readers, the card in
// each and its retry counters, without spending a PIN try, and what the
// event log says the card holds when a store is reachable without opening
// the data directory (a 'ceremony serve' on it, or --nats).
func newReadersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "readers",
		Short: "PC/SC readers, the card in each, what it holds, its retry counters (no PIN try)",
		Long: `List the PC/SC readers and the card in each: its ATR and serial, its PIN
retry counters, read without spending a PIN try, and what the event store
says it holds. With --watch, then print cards coming and going and readers
lost, until interrupted.

readers needs no event store: it never opens the data directory itself,
so it works while a ceremony holds it. What a card holds is shown when a
'ceremony serve' runs on the data directory, or with --nats. A card that
another process holds (a ceremony's step has it to itself) is waited for
--timeout, then named as held, with the ceremony and process holding the
reader when the store says so.`,
		Args: noArgs,
	}
	c := storeFlags(cmd)
	watch := cmd.Flags().Bool("watch", false, "after the list, print cards coming and going and readers lost, until interrupted")
	timeout := cmd.Flags().Duration("timeout", 10*time.Second, "how long to wait for a card another process holds before saying so")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		if *timeout <= 0 {
			return usagef("--timeout %v: give a positive duration, e.g. 10s", *timeout)
		}
		readers, err := pcsc.Readers()
		if err != nil {
			return err
		}
		a, err := c.openServed(ctx, out)
		if err != nil {
			return err
		}
		if a != nil {
			defer a.close()
		}
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "READER\tCARD\tSERIAL\tHOLDS\tPW1 TRIES\tPW3 TRIES\tNOTE")
		for _, r := range readers {
			if !r.Present {
				fmt.Fprintf(tw, "%s\t-\t\t\t\t\t\n", r.Name)
				continue
			}
			info, err := probeCard(ctx, out, r.Name, *timeout)
			if ctx.Err() != nil {
				tw.Flush()
				return interrupted(ctx)
			}
			serial, pw1, pw3, note := "?", "?", "?", ""
			switch {
			case errors.Is(err, pcsc.ErrHeld):
				note = a.heldNote(r.Name)
			case err == nil && !info.OpenPGP:
				note = "not an OpenPGP card"
			case err != nil:
				note = err.Error()
			}
			if info.Serial != "" {
				serial = info.Serial
			}
			if info.TriesPW1 >= 0 {
				pw1, pw3 = fmt.Sprint(info.TriesPW1), fmt.Sprint(info.TriesPW3)
			}
			fmt.Fprintf(tw, "%s\tATR %s\t%s\t%s\t%s\t%s\t%s\n", r.Name, hex.EncodeToString(r.ATR), serial, a.holds(info.Serial), pw1, pw3, note)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if a == nil && len(readers) > 0 {
			c.resolveDataDir()
			fmt.Fprintf(out, "HOLDS ?: no 'ceremony serve' runs on %s and no --nats was given; readers does not open the data directory itself (a ceremony may hold it).\n", c.dataDir)
		}
		if !*watch {
			return nil
		}
		fmt.Fprintln(out, "Watching the readers (Ctrl-C ends):")
		err = pcsc.Watch(ctx, func(ev pcsc.Event) error {
			line := fmt.Sprintf("%s  %-14s %q", ev.Time.Format("15:04:05.000"), ev.Kind, ev.Reader)
			if ev.Serial != "" {
				line += " serial " + ev.Serial
			}
			if errors.Is(ev.Err, pcsc.ErrHeld) {
				line += ": " + a.heldNote(ev.Reader)
			} else if ev.Err != nil {
				line += ": " + ev.Err.Error()
			}
			_, err := fmt.Fprintln(out, line)
			return err
		})
		if err == nil && ctx.Err() != nil {
			fmt.Fprintln(out, "Stopped watching.")
		}
		return err
	}
	return cmd
}

// heldNotice is how long readers waits for a held card before it says
// that it waits.
const heldNotice = time.Second

// probeCard reads the card in reader with pcsc.Probe, waiting up to
// timeout for a card another process holds; past heldNotice it says on
// out that it waits.
func probeCard(ctx context.Context, out io.Writer, reader string, timeout time.Duration) (pcsc.CardInfo, error) {
	if timeout <= heldNotice {
		return pcsc.Probe(ctx, reader, timeout)
	}
	info, err := pcsc.Probe(ctx, reader, heldNotice)
	if !errors.Is(err, pcsc.ErrHeld) {
		return info, err
	}
	fmt.Fprintf(out, "The card in reader %q is held by another process; waiting up to %v for it (Ctrl-C ends).\n", reader, timeout)
	return pcsc.Probe(ctx, reader, timeout-heldNotice)
}

// interrupted is the error of a command stopped by SIGINT or SIGTERM.
func interrupted(ctx context.Context) error {
	return fmt.Errorf("interrupted (%w)", context.Cause(ctx))
}

// openServed opens the event store only when that takes no lock on the
// data directory: on the NATS servers of --nats, or through the 'ceremony
// serve' running on it. Otherwise it returns nil: the caller does without.
func (c *common) openServed(ctx context.Context, out io.Writer) (*app, error) {
	if len(c.nats.urls) == 0 {
		c.resolveDataDir()
		if c.dataDir == "" {
			return nil, usagef("--data-dir is empty: give the event store directory")
		}
		svc, err := readService(c.dataDir)
		if err != nil || svc == nil || !svc.alive() {
			return nil, nil
		}
	}
	return c.open(ctx, out)
}

// holds says what the store says the card with serial holds; "?" without
// a store.
func (a *app) holds(serial string) string {
	if a == nil {
		return "?"
	}
	cr, ok := a.views.Inventory.Card(serial)
	if serial == "" || !ok || cr.KeySetID == "" {
		return "-"
	}
	h := fmt.Sprintf("share %d of %s", cr.ShareIndex, cr.KeySetID[:8])
	if ks, ok := a.views.Inventory.KeySet(cr.KeySetID); ok {
		h += " (" + ks.Status + ")"
	}
	return h
}

// heldNote says who holds the card in reader: the reader's lease names
// the ceremony and its process when a store is open.
func (a *app) heldNote(reader string) string {
	if a != nil {
		if who, ok := a.leases.Describe("reader:" + reader); ok {
			return "held by " + who
		}
	}
	return pcsc.ErrHeld.Error()
}
