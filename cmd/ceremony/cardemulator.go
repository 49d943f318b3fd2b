package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/vpcd"
	"github.com/spf13/cobra"
)

// newCardEmulatorCmd: "card-emulator" plugs emulated cards into a vpcd
// reader slot: it inserts --card, then reads commands from its input:
// "pull" takes the card out, "insert FILE" puts another in, "quit" (or the
// end of input) pulls the card and stops.
func newCardEmulatorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "card-emulator",
		Short: "Plug emulated cards into a vsmartcard vpcd reader of pcscd (--vpcd, --card)",
		Long: `Plug emulated cards into a reader of pcscd through the vsmartcard vpcd
driver, so that any PC/SC client (this tool with --reader, gpg, OpenSC)
sees them as real cards. It inserts --card, then reads commands from its
input: "pull" takes the card out, "insert FILE" puts another in, "quit"
(or the end of the input) pulls the card and stops.`,
		Example: `  ceremony card-emulator --vpcd localhost:35963 --card cards/card1.img`,
		Args:    noArgs,
	}
	fs := cmd.Flags()
	addr := fs.String("vpcd", "", "vpcd reader address, host:port (the reader config's DEVICENAME /dev/null:PORT; the second reader is PORT+1)")
	first := fs.String("card", "", "card image to insert first (see 'ceremony emulated-cards')")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		if *addr == "" {
			return usagef("--vpcd host:port is required")
		}
		var cur *vpcd.Inserted
		insert := func(path string) error {
			c, err := cardemu.Open(path)
			if err != nil {
				return err
			}
			ins, err := vpcd.Insert(ctx, *addr, c)
			if err != nil {
				return err
			}
			cur = ins
			fmt.Fprintf(out, "inserted %s (serial %s)\n", path, c.Serial())
			return nil
		}
		pull := func() {
			if cur != nil {
				cur.Remove()
				cur = nil
				fmt.Fprintln(out, "pulled")
			}
		}
		defer pull()
		if *first != "" {
			if err := insert(*first); err != nil {
				return err
			}
		}
		lines := bufio.NewScanner(in)
		for lines.Scan() {
			f := strings.Fields(lines.Text())
			switch {
			case len(f) == 0:
			case f[0] == "pull":
				pull()
			case f[0] == "insert" && len(f) == 2:
				pull()
				if err := insert(f[1]); err != nil {
					fmt.Fprintf(out, "error: %v\n", err)
				}
			case f[0] == "quit":
				return nil
			default:
				fmt.Fprintln(out, `commands: "pull", "insert FILE", "quit"`)
			}
			if cur != nil {
				select {
				case <-cur.Done():
					err := cur.Err()
					cur = nil
					if err != nil && !errors.Is(err, context.Canceled) {
						fmt.Fprintf(out, "the card left the reader: %v\n", err)
					}
				default:
				}
			}
		}
		return lines.Err()
	}
	return cmd
}
