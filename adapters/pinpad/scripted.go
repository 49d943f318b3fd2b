package pinpad

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// KeyKind is what a scripted entry does.
type KeyKind int

// Entry kinds.
const (
	OK     KeyKind = iota + 1 // the green OK key
	Cancel                    // the red Cancel key
	PIN                       // digits, then OK
	Stall                     // nobody touches the pad until the step's deadline
	Clear                     // digits typed, then the yellow Clear key: PIN entry starts over
)

// Entry is one scripted operator action.
type Entry struct {
	Kind KeyKind
	PIN  string
}

// Scripted plays a list of entries. OnShow, if set, is called with every
// display change before the pad waits for a key: a simulated operator uses
// it to insert and pull cards.
type Scripted struct {
	Display io.Writer
	OnShow  func(line1, line2 string)

	mu      sync.Mutex
	entries []Entry
	lines   [][2]string
}

// NewScripted returns a pad that plays entries in order.
func NewScripted(display io.Writer, entries ...Entry) *Scripted {
	return &Scripted{Display: display, entries: entries}
}

// Push appends entries to the script.
func (s *Scripted) Push(entries ...Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, entries...)
}

// Lines returns every pair of lines shown so far.
func (s *Scripted) Lines() [][2]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][2]string(nil), s.lines...)
}

// Show implements ceremonies.PinPad.
func (s *Scripted) Show(line1, line2 string) {
	s.mu.Lock()
	s.lines = append(s.lines, [2]string{line1, line2})
	s.mu.Unlock()
	writeDisplay(s.Display, line1, line2)
	if s.OnShow != nil {
		s.OnShow(line1, line2)
	}
}

func (s *Scripted) next(ctx context.Context, want string) (Entry, error) {
	s.mu.Lock()
	if len(s.entries) == 0 {
		s.mu.Unlock()
		return Entry{}, fmt.Errorf("pinpad: script ended while the pad waits for %s", want)
	}
	e := s.entries[0]
	s.entries = s.entries[1:]
	s.mu.Unlock()
	if e.Kind == Stall {
		<-ctx.Done()
		return Entry{}, ctx.Err()
	}
	return e, nil
}

// Confirm implements ceremonies.PinPad.
func (s *Scripted) Confirm(ctx context.Context) (bool, error) {
	e, err := s.next(ctx, "OK/Cancel")
	if err != nil {
		return false, err
	}
	switch e.Kind {
	case OK:
		return true, nil
	case Cancel:
		return false, nil
	}
	return false, fmt.Errorf("pinpad: script has a PIN where the pad waits for OK/Cancel")
}

// EnterPIN implements ceremonies.PinPad.
func (s *Scripted) EnterPIN(ctx context.Context, line1, line2 string) ([]byte, error) {
	s.Show(line1, line2)
	e, err := s.next(ctx, "a PIN")
	for err == nil && e.Kind == Clear {
		writeDisplay(s.Display, line1, strings.Repeat("*", len(e.PIN))+" (Clear)")
		e, err = s.next(ctx, "a PIN after Clear")
	}
	if err != nil {
		return nil, err
	}
	switch e.Kind {
	case PIN:
		writeDisplay(s.Display, line1, strings.Repeat("*", len(e.PIN)))
		return []byte(e.PIN), nil
	case Cancel:
		return nil, ceremonies.ErrCancelled
	}
	return nil, fmt.Errorf("pinpad: script has OK where the pad waits for a PIN")
}

// writeDisplay prints the two lines the way the pad shows them.
func writeDisplay(w io.Writer, line1, line2 string) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "  [PIN pad] %-16s | %s\n", line1, line2)
}
