package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/vpcd"
)

// cmdCardEmulator plugs emulated cards into a vpcd reader slot: it
// inserts --card, then reads commands from its input: "pull" takes the
// card out, "insert FILE" puts another in, "quit" (or the end of input)
// pulls the card and stops.
func cmdCardEmulator(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	fs, _ := newFlags("card-emulator", out)
	addr := fs.String("vpcd", "", "vpcd reader address, host:port (the reader config's DEVICENAME /dev/null:PORT; the second reader is PORT+1)")
	first := fs.String("card", "", "card image to insert first (see 'ceremony emulated-cards')")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
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
