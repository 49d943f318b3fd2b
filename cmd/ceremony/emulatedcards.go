package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

func cmdEmulatedCards(_ context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("emulated-cards", flag.ContinueOnError)
	fs.SetOutput(out)
	dir := fs.String("cards-dir", "ceremony-cards", "directory of the emulated card images")
	create := fs.Int("create", 0, "create this many new cards (card1, card2, ... after the existing ones), PINs 123456 as delivered")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
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
