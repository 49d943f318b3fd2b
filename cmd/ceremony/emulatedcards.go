package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newEmulatedCardsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulated-cards",
		Short: "Create emulated cards (--create N) or list them",
		Long: `Create emulated OpenPGP cards in --cards-dir (images card1.img, card2.img,
..., on factory-default PINs 123456, as cards are delivered), or list the
cards there. The ceremonies use them in an emulated in-process reader
when no --reader is given; 'ceremony card-emulator' plugs them into pcscd.`,
		Example: `  ceremony emulated-cards --cards-dir cards --create 3
  ceremony emulated-cards --cards-dir cards`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	dir := fs.String("cards-dir", "ceremony-cards", "directory of the emulated card images")
	create := fs.Int("create", 0, "create this many new cards (card1, card2, ... after the existing ones), PINs 123456 as delivered")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		out := cmd.OutOrStdout()
		if *create < 0 || *create > 16 {
			return usagef("--create %d: give 1 to 16", *create)
		}
		box := newCardBox(*dir)
		existing := len(box.names())
		for i := 0; i < *create; i++ {
			n := existing + i + 1
			c, err := box.create(fmt.Sprintf("card%d", n), uint32(0x2000+n), "123456")
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "created card%d (serial %s, PINs 123456 as delivered: change them)\n", n, c.Serial())
		}
		names := box.names()
		fmt.Fprintf(out, "%d emulated cards in %s: %s\n", len(names), *dir, strings.Join(names, ", "))
		return nil
	}
	return cmd
}
