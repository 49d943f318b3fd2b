package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
)

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
