package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
)

// emuSlot adapts the emulator's in-process reader to opgpcard.Slot.
type emuSlot struct{ r *cardemu.Reader }

func (s emuSlot) Name() string                          { return s.r.Name() }
func (s emuSlot) Transport() openpgp.Transport          { return s.r.Transport() }
func (s emuSlot) WaitRemoved(ctx context.Context) error { return s.r.WaitRemoved(ctx) }
func (s emuSlot) WaitPresent(ctx context.Context) error {
	_, err := s.r.Wait(ctx)
	return err
}
func (s emuSlot) Gone(err error) bool {
	return errors.Is(err, cardemu.ErrCardRemoved) || errors.Is(err, cardemu.ErrNoCard)
}

// newEmulatedReader returns the in-process reader and its ceremony port.
func newEmulatedReader(name string) (*cardemu.Reader, *opgpcard.Reader) {
	r := cardemu.NewReader(name)
	return r, opgpcard.NewReader(emuSlot{r}, "host-pinpad")
}

// cardBox is the operator's box of emulated cards: images in a directory,
// by name ("card1" is cards-dir/card1.img).
type cardBox struct {
	dir   string
	mu    sync.Mutex
	cards map[string]*cardemu.Card
}

func newCardBox(dir string) *cardBox { return &cardBox{dir: dir, cards: map[string]*cardemu.Card{}} }

func (b *cardBox) path(name string) string { return filepath.Join(b.dir, name+".img") }

// create makes a new card image.
func (b *cardBox) create(name string, serial uint32, pin string) (*cardemu.Card, error) {
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return nil, fmt.Errorf("cards directory %s: %w", b.dir, err)
	}
	c, err := cardemu.Create(b.path(name), cardemu.Options{Serial: serial, PW1: []byte(pin), PW3: []byte(pin)})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.cards[name] = c
	b.mu.Unlock()
	return c, nil
}

// get opens a card image once and keeps it.
func (b *cardBox) get(name string) (*cardemu.Card, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.cards[name]; ok {
		return c, nil
	}
	if strings.ContainsAny(name, `/\`) || name == "" {
		return nil, fmt.Errorf("card name %q: use a name from %s, without a path", name, b.dir)
	}
	c, err := cardemu.Open(b.path(name))
	if err != nil {
		return nil, fmt.Errorf("card %q: %w (known cards: %s)", name, err, strings.Join(b.names(), ", "))
	}
	b.cards[name] = c
	return c, nil
}

// names lists the card images in the directory.
func (b *cardBox) names() []string {
	m, _ := filepath.Glob(filepath.Join(b.dir, "*.img"))
	out := make([]string, 0, len(m))
	for _, p := range m {
		out = append(out, strings.TrimSuffix(filepath.Base(p), ".img"))
	}
	sort.Strings(out)
	return out
}

// hand is the simulated operator's hand: it reacts to the PIN pad display
// by inserting and pulling emulated cards. choose says which card to
// insert for "Insert n. card"; "" keeps the card in the reader.
type hand struct {
	reader *cardemu.Reader
	box    *cardBox
	out    io.Writer
	choose func() (string, error)
	err    error
}

func (h *hand) onShow(line1, _ string) {
	var n int
	switch {
	case line1 == "Remove card":
		if c := h.reader.Card(); c != nil {
			h.reader.Remove()
			fmt.Fprintf(h.out, "  (card %s pulled from the reader)\n", c.Serial())
		}
	case strings.HasPrefix(line1, "Insert ") && sscan(line1, "Insert %d. card", &n):
		name, err := h.choose()
		if err != nil {
			h.err = err
			return
		}
		if name == "" {
			return
		}
		c, err := h.box.get(name)
		if err != nil {
			h.err = err
			fmt.Fprintf(h.out, "  (%v)\n", err)
			return
		}
		if cur := h.reader.Card(); cur == c {
			fmt.Fprintf(h.out, "  (card %s stays in the reader)\n", c.Serial())
			return
		} else if cur != nil {
			h.reader.Remove()
		}
		if err := h.reader.Insert(c); err != nil {
			h.err = err
			return
		}
		fmt.Fprintf(h.out, "  (card %s = %s inserted)\n", name, c.Serial())
	}
}

func sscan(s, format string, a ...any) bool {
	_, err := fmt.Sscanf(s, format, a...)
	return err == nil
}

// planned returns a chooser that plays a fixed list of card names.
func planned(names ...string) func() (string, error) {
	i := 0
	return func() (string, error) {
		if i >= len(names) {
			return "", fmt.Errorf("the demo plan has no more cards")
		}
		i++
		return names[i-1], nil
	}
}
