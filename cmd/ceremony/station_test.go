package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cardStation is a terminal station on two emulated cards reading in.
func cardStation(t *testing.T, in io.Reader, out io.Writer) *handPad {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cards")
	box := newCardBox(dir)
	for i, n := range []string{"card1", "card2"} {
		if _, err := box.create(n, uint32(0x4001+i), "48151623"); err != nil {
			t.Fatal(err)
		}
	}
	sf := stationFlags{cardsDir: dir, timeout: time.Minute}
	st, _, closeHW, err := sf.station(context.Background(), in, out, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeHW)
	return st.Pad.(*handPad)
}

// Issue 13, defect 5: at "Which card goes into the reader?" an empty
// answer with no card in the reader led to silence until the step's
// deadline, and "c" was taken as a card named "c". Now the question is
// asked again at once, naming the choices, and c is Cancel.
func TestDefect5CardQuestionReasksAndCancels(t *testing.T) {
	var out bytes.Buffer
	pad := cardStation(t, strings.NewReader("\nnosuch\nc\n"), &out)
	pad.Show("Insert 1. card", "press OK/Cancel")
	ok, err := pad.Confirm(context.Background())
	if ok || err != nil {
		t.Fatalf("Confirm after c at the card question = %v, %v; want Cancel", ok, err)
	}
	for _, want := range []string{
		"The reader is empty: type one of card1, card2, or c to cancel.",
		`No card "nosuch": type one of card1, card2, or c to cancel.`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the terminal never said %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "[Enter = OK, c = Cancel]") {
		t.Errorf("Cancel at the card question still asked for OK:\n%s", out.String())
	}
}

// Issue 13, defect 5: the emulated card question had no deadline: it now
// waits under the step's context, and ends with it.
func TestDefect5CardQuestionEndsWithTheStep(t *testing.T) {
	r, w := io.Pipe() // nobody types
	t.Cleanup(func() { w.Close() })
	pad := cardStation(t, r, io.Discard)
	pad.Show("Insert 1. card", "press OK/Cancel")
	ctx, cancel := context.WithCancelCause(context.Background())
	stepEnded := errors.New("the step's deadline passed")
	cancel(stepEnded)
	if _, err := pad.Confirm(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Confirm when the step ended = %v, want the step's end", err)
	}
}

// Issue 13, defect 7: a ceremony stopped before any share was written
// was said to be continued by 'ceremony resume', which then voided it.
func TestDefect7StoppedCeremonyHint(t *testing.T) {
	got := resumeHint("gen-x")
	want := "what this process held in memory is lost; 'ceremony resume gen-x --operator NAME' says what that means and goes on where it can (or 'ceremony abort gen-x')"
	if got != want {
		t.Fatalf("resumeHint = %q, want %q", got, want)
	}
}
