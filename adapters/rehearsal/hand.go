// Package rehearsal is the simulated operator of rehearsals (the demo,
// the tests, the interactive commands on emulated cards): a Hand that
// watches the PIN pad display and inserts or pulls emulated cards the way
// the manual's operator does.
//
// Rules a caller must know: the Hand reacts synchronously inside
// PinPad.Show, before the pad waits for a key; it never sees a PIN.
package rehearsal

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
)

// Hand inserts and pulls emulated cards in one reader.
type Hand struct {
	Reader *cardemu.Reader
	// Card returns the emulated card called name.
	Card func(name string) (*cardemu.Card, error)
	// Choose names the card for "Insert n. card"; "" keeps the card
	// that is in the reader.
	Choose func(n int) (string, error)
	// Log receives one line per hand movement (may be nil).
	Log io.Writer

	mu  sync.Mutex
	err error
}

// Err returns the first error the hand met (a missing card, say).
func (h *Hand) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *Hand) fail(err error) {
	h.mu.Lock()
	if h.err == nil {
		h.err = err
	}
	h.mu.Unlock()
	h.logf("(%v)", err)
}

func (h *Hand) logf(format string, a ...any) {
	if h.Log != nil {
		fmt.Fprintf(h.Log, "  "+format+"\n", a...)
	}
}

// OnShow is the PIN pad display hook.
func (h *Hand) OnShow(line1, _ string) {
	var n int
	switch {
	case line1 == "Remove card":
		if c := h.Reader.Card(); c != nil {
			h.Reader.Remove()
			h.logf("(card %s pulled from the reader)", c.Serial())
		}
	case strings.HasPrefix(line1, "Insert ") && scan(line1, "Insert %d. card", &n):
		name, err := h.Choose(n)
		if err != nil {
			h.fail(err)
			return
		}
		if name == "" {
			return
		}
		c, err := h.Card(name)
		if err != nil {
			h.fail(err)
			return
		}
		if cur := h.Reader.Card(); cur == c {
			h.logf("(card %s stays in the reader)", c.Serial())
			return
		} else if cur != nil {
			h.Reader.Remove()
		}
		if err := h.Reader.Insert(c); err != nil {
			h.fail(err)
			return
		}
		h.logf("(card %s = %s inserted)", name, c.Serial())
	}
}

func scan(s, format string, a ...any) bool {
	_, err := fmt.Sscanf(s, format, a...)
	return err == nil
}

// Plan returns a Choose that plays names in order.
func Plan(names ...string) func(int) (string, error) {
	var mu sync.Mutex
	i := 0
	return func(int) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if i >= len(names) {
			return "", fmt.Errorf("rehearsal: the plan has no card left (it had %d)", len(names))
		}
		i++
		return names[i-1], nil
	}
}
