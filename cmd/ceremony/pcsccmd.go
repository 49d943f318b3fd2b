package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc"
	"github.com/ceremony-hsm/ceremony/adapters/vpcd"
)

// cmdReaders lists the PC/SC readers, the card in each, what the event
// log says it holds and its retry counters, without spending a PIN try.
func cmdReaders(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs, c := newFlags("readers", out)
	watch := fs.Bool("watch", false, "after the list, print cards coming and going and readers lost, until interrupted")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
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
		if cr, ok := a.eng.Card(serial); ok && cr.KeySetID != "" {
			holds = fmt.Sprintf("share %d of %s", cr.ShareIndex, cr.KeySetID[:8])
			if ks, ok := a.eng.KeySet(cr.KeySetID); ok {
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
