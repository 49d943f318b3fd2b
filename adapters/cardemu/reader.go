package cardemu

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// Errors of a Reader and its Transport.
var (
	// ErrNoCard: the reader is empty and the Transport was never bound to a card.
	ErrNoCard = errors.New("no card in the reader")
	// ErrCardRemoved: the card this Transport talked to was pulled (or lost
	// power in a torn write). Wait for a card and take a new Transport.
	ErrCardRemoved = errors.New("the card was removed")
	// ErrCardPresent: Insert into a reader that already holds a card.
	ErrCardPresent = errors.New("a card is already in the reader")
)

// Reader is one emulated reader slot. It is safe for concurrent use.
type Reader struct {
	name string

	mu      sync.Mutex
	card    *Card
	gen     uint64        // counts insertions; a Transport is bound to one
	changed chan struct{} // closed and replaced on every insertion and removal
}

// NewReader returns an empty reader.
func NewReader(name string) *Reader {
	return &Reader{name: name, changed: make(chan struct{})}
}

// Name returns the reader's name.
func (r *Reader) Name() string { return r.name }

// Insert puts c into the reader and powers it on, which clears its PIN
// verification state. It fails if the reader holds a card (ErrCardPresent)
// or if c is in another reader.
func (r *Reader) Insert(c *Card) error {
	if c == nil {
		return fmt.Errorf("cardemu: reader %q: insert: no card given", r.name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.card != nil {
		return fmt.Errorf("cardemu: reader %q: insert: %w", r.name, ErrCardPresent)
	}
	if err := c.attach(r); err != nil {
		return fmt.Errorf("cardemu: reader %q: insert: %w", r.name, err)
	}
	r.card = c
	r.gen++
	r.notifyLocked()
	return nil
}

// Remove pulls the card, if any; this powers it off.
func (r *Reader) Remove() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked()
}

func (r *Reader) removeLocked() {
	if r.card == nil {
		return
	}
	r.card.detach()
	r.card = nil
	r.notifyLocked()
}

func (r *Reader) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Card returns the card in the reader, or nil if it is empty.
func (r *Reader) Card() *Card {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.card
}

// Wait blocks until a card is in the reader and returns it, or returns
// ctx.Err() when ctx is done first.
func (r *Reader) Wait(ctx context.Context) (*Card, error) {
	for {
		r.mu.Lock()
		c, changed := r.card, r.changed
		r.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// WaitRemoved blocks until the reader is empty, or returns ctx.Err() when
// ctx is done first.
func (r *Reader) WaitRemoved(ctx context.Context) error {
	for {
		r.mu.Lock()
		c, changed := r.card, r.changed
		r.mu.Unlock()
		if c == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Transport returns a transport to the card in the reader. Like a PC/SC
// handle it is bound to one insertion: to the card present now, or, if the
// reader is empty, to the next card it first talks to. Transmit answers
// ErrNoCard while it is unbound and the reader is empty, and ErrCardRemoved
// for good once its card has been pulled (even if a card was inserted
// again).
func (r *Reader) Transport() openpgp.Transport {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &transport{r: r}
	if r.card != nil {
		t.gen = r.gen
	}
	return t
}

type transport struct {
	r   *Reader
	gen uint64 // the insertion it is bound to, 0 if none yet; guarded by r.mu
}

// Transmit sends one command APDU to the card. The reader is held for the
// whole command, so commands from several goroutines do not interleave and
// a removal waits for the command in progress.
func (t *transport) Transmit(cmd []byte) ([]byte, error) {
	r := t.r
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case t.gen != 0 && (r.card == nil || t.gen != r.gen):
		return nil, fmt.Errorf("cardemu: reader %q: %w", r.name, ErrCardRemoved)
	case r.card == nil:
		return nil, fmt.Errorf("cardemu: reader %q: %w", r.name, ErrNoCard)
	}
	t.gen = r.gen
	resp, lostPower := r.card.process(cmd)
	if lostPower {
		r.removeLocked()
		return nil, fmt.Errorf("cardemu: reader %q: card lost power during the command: %w", r.name, ErrCardRemoved)
	}
	return resp, nil
}
