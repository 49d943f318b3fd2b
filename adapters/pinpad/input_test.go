package pinpad_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
)

// Issue 13, defect 5: any line but "c" was OK, so a card name typed during
// a hang was taken as "retry". Only Enter and c answer a confirmation.
func TestDefect5ConfirmAcceptsOnlyDocumentedAnswers(t *testing.T) {
	var disp bytes.Buffer
	pad := pinpad.NewTerminal(strings.NewReader("card1\n\nyes\x1b[2J\nC\n"), &disp)
	ctx := context.Background()
	if ok, err := pad.Confirm(ctx); !ok || err != nil {
		t.Fatalf("card1 then Enter: %v %v, want OK", ok, err)
	}
	if ok, err := pad.Confirm(ctx); ok || err != nil {
		t.Fatalf("yes<ESC> then C: %v %v, want Cancel", ok, err)
	}
	out := disp.String()
	if !strings.Contains(out, `"card1" is not an answer here: Enter = OK, c = Cancel`) || !strings.Contains(out, `"yes\x1b[2J" is not an answer here`) {
		t.Fatalf("display:\n%q", out)
	}
}

// signalWriter closes ready when the display shows want.
type signalWriter struct {
	mu    sync.Mutex
	b     bytes.Buffer
	want  string
	ready chan struct{}
	once  sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

// openPTY opens a pseudo-terminal pair: the master (the operator's
// keyboard) and the slave (the process's stdin).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pty slave: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// Issue 13, defect 5: lines typed ahead during a wait answered later
// prompts. On a terminal, what was typed before a prompt is discarded.
func TestDefect5TypedAheadLinesAreDrainedOnATerminal(t *testing.T) {
	master, slave := openPTY(t)
	disp := &signalWriter{want: "[Enter = OK, c = Cancel]", ready: make(chan struct{})}
	pad := pinpad.NewTerminal(slave, disp)
	// Enter typed during a wait, before the prompt: it must not answer it.
	if _, err := master.WriteString("\n"); err != nil {
		t.Fatal(err)
	}
	// Wait until the line has reached the terminal's input queue.
	fds := []unix.PollFd{{Fd: int32(slave.Fd()), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("poll the pty: %d %v", n, err)
		}
		break
	}
	type answer struct {
		ok  bool
		err error
	}
	done := make(chan answer, 1)
	go func() {
		ok, err := pad.Confirm(context.Background())
		done <- answer{ok, err}
	}()
	<-disp.ready
	if _, err := master.WriteString("c\n"); err != nil {
		t.Fatal(err)
	}
	if a := <-done; a.ok || a.err != nil {
		t.Fatalf("Confirm = %v, %v; want Cancel (typed after the prompt), not the Enter typed ahead", a.ok, a.err)
	}
}

func TestEscapeStoredText(t *testing.T) {
	for in, want := range map[string]string{
		"Alice Müller":            "Alice Müller",
		"evil\x1b[2J\x1b[31mred":  `evil\x1b[2J\x1b[31mred`,
		"line\nbreak\r\ttab":      `line\nbreak\r\ttab`,
		"bidi \u202egnp.exe":      `bidi \u202egnp.exe`,
		"bad \xff byte":           `bad \xff byte`,
		"slash \\ with \x07 bell": `slash \\ with \a bell`,
	} {
		if got := pinpad.Escape(in); got != want {
			t.Errorf("pinpad.Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
