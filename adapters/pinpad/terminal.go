package pinpad

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// Terminal is a PIN pad on the operator's terminal: Enter is OK, "c" is
// Cancel, "clear" at a PIN prompt starts the entry over (the yellow Clear
// key), and a PIN is read without echo when the input is a terminal.
// Confirm accepts only Enter and c; anything else is asked again.
//
// On a terminal, what was typed before a prompt is shown (a line typed
// ahead during a wait) is discarded: each prompt is answered by what is
// typed after it. A read that a step's deadline interrupted stays pending;
// if the next prompt is a PIN prompt, that pending read echoes. Known
// limit of a line-based terminal. Piped input (scripts, tests) is read in
// order and never discarded.
type Terminal struct {
	Display io.Writer
	in      *bufio.Reader
	fd      int
	tty     bool
	lines   chan lineResult
}

type lineResult struct {
	b   []byte // a PIN is never made a string: the caller wipes b
	err error
}

// NewTerminal reads keys from in (os.Stdin for a real terminal).
func NewTerminal(in io.Reader, display io.Writer) *Terminal {
	t := &Terminal{Display: display, in: bufio.NewReader(in), fd: -1}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t.fd, t.tty = int(f.Fd()), true
	}
	return t
}

// Show implements ceremonies.PinPad.
func (t *Terminal) Show(line1, line2 string) { writeDisplay(t.Display, line1, line2) }

// drain discards, on a terminal, what was typed before the prompt: a line
// a pending read already got, the reader's buffer, and the kernel's input
// queue (tcflush TCIFLUSH).
func (t *Terminal) drain() {
	if !t.tty {
		return
	}
	if t.lines != nil {
		select {
		case <-t.lines:
			t.lines = nil
		default:
			return // a read is waiting: what is typed now answers this prompt
		}
	}
	if n := t.in.Buffered(); n > 0 {
		t.in.Discard(n)
	}
	flushInput(t.fd)
}

// readLine reads one line, giving up when ctx ends (the pending read is
// kept for the next call, as a real keypad buffers keys). The line is
// returned as bytes, its line end dropped: a PIN is never a string.
func (t *Terminal) readLine(ctx context.Context, secret bool) ([]byte, error) {
	if t.lines == nil {
		t.lines = make(chan lineResult, 1)
		go func() {
			var b []byte
			var err error
			if secret && t.tty {
				b, err = term.ReadPassword(t.fd)
				fmt.Fprintln(t.Display)
			} else {
				b, err = t.in.ReadBytes('\n')
				if !t.tty {
					fmt.Fprintln(t.Display) // the input is not echoed: end the prompt's line
				}
			}
			t.lines <- lineResult{bytes.TrimRight(b, "\r\n"), err}
		}()
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-t.lines:
		t.lines = nil
		if r.err != nil && len(r.b) == 0 {
			return nil, fmt.Errorf("pinpad: terminal input: %w", r.err)
		}
		return r.b, nil
	}
}

// readText reads one line of plain text.
func (t *Terminal) readText(ctx context.Context) (string, error) {
	b, err := t.readLine(ctx, false)
	return string(b), err
}

// Confirm implements ceremonies.PinPad.
func (t *Terminal) Confirm(ctx context.Context) (bool, error) {
	t.drain()
	fmt.Fprint(t.Display, "  [Enter = OK, c = Cancel] ")
	for {
		s, err := t.readText(ctx)
		if err != nil {
			return false, err
		}
		switch s = strings.TrimSpace(s); {
		case s == "":
			return true, nil
		case strings.EqualFold(s, "c"):
			return false, nil
		}
		fmt.Fprintf(t.Display, "  %s is not an answer here: Enter = OK, c = Cancel ", Quote(s))
	}
}

// EnterPIN implements ceremonies.PinPad.
func (t *Terminal) EnterPIN(ctx context.Context, line1, line2 string) ([]byte, error) {
	t.Show(line1, line2)
	t.drain()
	for {
		fmt.Fprint(t.Display, "  [type the PIN and Enter; c = Cancel; clear = start over] ")
		pin, err := t.readLine(ctx, true)
		if err != nil {
			return nil, err
		}
		switch {
		case bytes.EqualFold(pin, []byte("c")):
			ceremonies.Wipe(pin)
			return nil, ceremonies.ErrCancelled
		case bytes.EqualFold(pin, []byte("clear")):
			ceremonies.Wipe(pin)
			t.Show(line1, "(cleared)")
			continue
		}
		return pin, nil
	}
}

// Ask prints a question and reads one line of plain text.
func (t *Terminal) Ask(ctx context.Context, question string) (string, error) {
	t.drain()
	fmt.Fprint(t.Display, question)
	s, err := t.readText(ctx)
	return strings.TrimSpace(s), err
}

// Quote renders operator input for the display: quoted, with control
// characters and invalid UTF-8 escaped.
func Quote(s string) string { return strconv.Quote(s) }

// Escape renders stored text (an operator's name, a reason, a label) for
// a terminal: printable text as it is, control characters (ANSI escape
// sequences start with one), bidirectional and other format characters
// and invalid UTF-8 escaped Go-style (\x1b, \u202e; a backslash doubled),
// so stored text cannot move the cursor, recolour or rewrite what the
// terminal shows.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r == '\\' || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}
