package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/vpcd"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/spf13/cobra"
)

// newCardEmulatorCmd: "card-emulator" plugs emulated cards into a vpcd
// reader slot: it inserts --card, then reads commands from its input:
// "pull" takes the card out, "insert FILE" puts another in, "quit" (or the
// end of input) pulls the card and stops. With --pinpad the reader is the
// class-3 PIN pad reader and its keypad prompts on the same input.
func newCardEmulatorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "card-emulator",
		Short: "Plug emulated cards into a vsmartcard vpcd reader of pcscd (--vpcd, --card)",
		Long: `Plug emulated cards into a reader of pcscd through the vsmartcard vpcd
driver, so that any PC/SC client (this tool with --reader, gpg, OpenSC)
sees them as real cards. It inserts --card, then reads commands from its
input: "pull" takes the card out, "insert FILE" puts another in, "quit"
(or the end of the input) pulls the card and stops. When pcscd goes away
(stopped or killed), the card goes back in by itself once it is back.

With --pinpad the reader at --vpcd is the virtual class-3 PIN pad reader
(adapters/pcsc/classthree): when a PC/SC client asks for a PIN on the
reader (PC/SC part 10 FEATURE_VERIFY_PIN_DIRECT, FEATURE_MODIFY_PIN_DIRECT),
this terminal is the reader's keypad: it shows the prompt, and the next
line typed is the PIN ("c" is Cancel). The PIN stays in this process; the
client only ever sees the card's answer. The input echoes: this terminal
plays a keypad, keep it out of sight as one.`,
		Example: `  ceremony card-emulator --vpcd localhost:35963 --card cards/card1.img
  ceremony card-emulator --vpcd 127.0.0.1:35965 --pinpad --card cards/card1.img`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	addr := fs.String("vpcd", "", "vpcd reader address, host:port (the reader config's DEVICENAME /dev/null:PORT; the second reader is PORT+1)")
	first := fs.String("card", "", "card image to insert first (see 'ceremony emulated-cards')")
	withPad := fs.Bool("pinpad", false, "the reader is the class-3 PIN pad reader: this terminal is its keypad")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		if *addr == "" {
			return usagef("--vpcd host:port is required")
		}
		pad := &lineKeypad{out: out}
		lines := pad.feed(in)
		var cur *vpcd.Inserted
		var curPath string // the card in the reader, or to put back when pcscd is back
		insert := func(path string) error {
			c, err := cardemu.Open(path)
			if err != nil {
				return err
			}
			var ins *vpcd.Inserted
			if *withPad {
				ins, err = vpcd.InsertWithKeypad(ctx, *addr, c, pad)
			} else {
				ins, err = vpcd.Insert(ctx, *addr, c)
			}
			if err != nil {
				return err
			}
			cur, curPath = ins, path
			fmt.Fprintf(out, "inserted %s (serial %s)\n", path, c.Serial())
			return nil
		}
		pull := func() {
			curPath = ""
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
		// retry is armed while pcscd is gone: the card goes back in by
		// itself when pcscd (its vpcd reader) is there again.
		var retry <-chan time.Time
		for {
			var gone <-chan struct{}
			if cur != nil {
				gone = cur.Done()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-gone:
				err := cur.Err()
				cur = nil
				switch {
				case errors.Is(err, vpcd.ErrReaderGone):
					fmt.Fprintf(out, "pcscd went away (%v): the card goes back in when it is back\n", err)
					retry = time.After(cardEmulatorRetry)
				case err != nil && !errors.Is(err, context.Canceled):
					curPath = ""
					fmt.Fprintf(out, "the card left the reader: %v\n", err)
				}
			case <-retry:
				retry = nil
				if curPath == "" {
					continue
				}
				if err := insert(curPath); err != nil {
					retry = time.After(cardEmulatorRetry)
				}
			case line, ok := <-lines:
				if !ok {
					return pad.err
				}
				f := strings.Fields(line)
				switch {
				case len(f) == 0:
				case f[0] == "pull":
					retry = nil
					pull()
				case f[0] == "insert" && len(f) == 2:
					retry = nil
					pull()
					if err := insert(f[1]); err != nil {
						fmt.Fprintf(out, "error: %v\n", err)
					}
				case f[0] == "quit":
					return nil
				default:
					fmt.Fprintln(out, `commands: "pull", "insert FILE", "quit"`)
				}
			}
		}
	}
	return cmd
}

// cardEmulatorRetry is the pause between two attempts to put the card
// back while pcscd is gone.
const cardEmulatorRetry = 500 * time.Millisecond

// lineKeypad is the class-3 reader's keypad on the emulator's terminal
// (vpcd.Keypad): while a PIN prompt waits, the next input line is the
// PIN; otherwise lines are commands.
type lineKeypad struct {
	out  io.Writer
	mu   sync.Mutex
	want chan string // non-nil while a PIN prompt waits
	err  error       // the input's error, once the commands channel is closed
}

// feed reads in line by line, giving each line to a waiting PIN prompt or
// else to the returned channel of commands, closed at the end of in.
func (k *lineKeypad) feed(in io.Reader) <-chan string {
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			line := sc.Text()
			k.mu.Lock()
			want := k.want
			k.want = nil
			k.mu.Unlock()
			if want != nil {
				want <- line
				continue
			}
			cmds <- line
		}
		k.err = sc.Err()
		close(cmds)
	}()
	return cmds
}

// EnterPIN implements vpcd.Keypad.
func (k *lineKeypad) EnterPIN(ctx context.Context, line1, line2 string) ([]byte, error) {
	ch := make(chan string, 1)
	k.mu.Lock()
	k.want = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		if k.want == ch {
			k.want = nil
		}
		k.mu.Unlock()
	}()
	fmt.Fprintf(k.out, "  [reader keypad] %-16s | %s\n  [type the PIN and Enter; c = Cancel] ", line1, line2)
	select {
	case <-ctx.Done():
		fmt.Fprintln(k.out, "(no PIN typed in time)")
		return nil, ctx.Err()
	case s := <-ch:
		if strings.EqualFold(strings.TrimSpace(s), "c") {
			return nil, ceremonies.ErrCancelled
		}
		return []byte(strings.TrimSpace(s)), nil
	}
}
