package web

import (
	"context"
	"errors"
	"sync"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// Pad is a PIN pad in the browser (ceremonies.PinPad): its display is
// mirrored to every page watching the ceremony; OK, Cancel and the PIN
// come from an operator's page. The PIN goes from the page to the runner
// and nowhere else: it is never logged, stored or shown.
type Pad struct {
	mu    sync.Mutex
	view  PadView
	keys  chan bool
	pins  chan []byte
	watch map[chan struct{}]bool
	by    string // the account whose OK or Cancel was taken last
}

// PadView is what the display shows and what it waits for.
type PadView struct {
	Line1 string `json:"line1"`
	Line2 string `json:"line2"`
	// Waiting is "", "confirm" (OK/Cancel), "pin" (the web PIN pad) or
	// "reader" (a class-3 reader collects the PIN on its own keypad: the
	// page shows no PIN field).
	Waiting string `json:"waiting"`
	Ended   bool   `json:"ended"`
	Said    string `json:"said"` // the runner's last message to the operator
	// Desk is the witness desk: open while the run waits for a witness
	// account's sign-off.
	Desk DeskView `json:"desk"`
	// Approval is the approval desk (dual control): open while the run
	// waits for a second operator's approval.
	Approval ApprovalView `json:"approval"`
}

// NewPad returns a web PIN pad.
func NewPad() *Pad {
	return &Pad{keys: make(chan bool, 1), pins: make(chan []byte, 1), watch: map[chan struct{}]bool{}}
}

// View returns the display.
func (p *Pad) View() PadView {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.view
}

// Subscribe returns a channel that gets a value after each display change.
func (p *Pad) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	p.mu.Lock()
	p.watch[ch] = true
	p.mu.Unlock()
	return ch, func() { p.mu.Lock(); delete(p.watch, ch); p.mu.Unlock() }
}

func (p *Pad) set(fn func(v *PadView)) {
	p.mu.Lock()
	fn(&p.view)
	for ch := range p.watch {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

// Say shows a message of the runner (never a secret).
func (p *Pad) Say(msg string) {
	p.set(func(v *PadView) { v.Said = msg })
}

// End marks the ceremony's run over.
func (p *Pad) End(line1, line2 string) {
	p.set(func(v *PadView) { *v = PadView{Line1: line1, Line2: line2, Ended: true, Said: v.Said} })
}

// Show implements ceremonies.PinPad.
func (p *Pad) Show(line1, line2 string) {
	p.set(func(v *PadView) { v.Line1, v.Line2 = line1, line2 })
}

// Confirm implements ceremonies.PinPad: it waits for OK or Cancel from a page.
func (p *Pad) Confirm(ctx context.Context) (bool, error) {
	p.drain()
	p.set(func(v *PadView) { v.Waiting = "confirm" })
	defer p.set(func(v *PadView) { v.Waiting = "" })
	select {
	case ok := <-p.keys:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// EnterPIN implements ceremonies.PinPad: it waits for the PIN from a page.
func (p *Pad) EnterPIN(ctx context.Context, line1, line2 string) ([]byte, error) {
	p.drain()
	p.set(func(v *PadView) { v.Line1, v.Line2, v.Waiting = line1, line2, "pin" })
	defer p.set(func(v *PadView) { v.Waiting = "" })
	select {
	case pin := <-p.pins:
		return pin, nil
	case ok := <-p.keys:
		if !ok {
			return nil, ceremonies.ErrCancelled
		}
		return nil, errors.New("OK pressed with no PIN typed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// OnReader implements ceremonies.ReaderPINNotice: the PIN is typed on
// the reader's own keypad until done is called; nothing is typed here.
func (p *Pad) OnReader(line1, line2 string) (done func()) {
	p.set(func(v *PadView) { v.Line1, v.Line2, v.Waiting = line1, line2, "reader" })
	return func() { p.set(func(v *PadView) { v.Waiting = "" }) }
}

// errNotWaiting: a key or a PIN came when the pad waits for neither.
var errNotWaiting = &UsageError{Msg: "the PIN pad is not waiting for that now: reload the page to see what it asks"}

// errOnReader: a key or a PIN came while the reader's keypad collects
// the PIN.
var errOnReader = &UsageError{Msg: "the PIN is typed on the reader's own keypad (OK or Cancel there): this page sends no PIN and no key now"}

// drain drops a key or PIN left from an earlier prompt.
func (p *Pad) drain() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.keys:
	default:
	}
	select {
	case pin := <-p.pins:
		ceremonies.Wipe(pin)
	default:
	}
}

// Press hands by's OK (true) or Cancel (false) to a waiting Confirm or
// EnterPIN.
func (p *Pad) Press(ok bool, by string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.view.Waiting == "" {
		return errNotWaiting
	}
	if p.view.Waiting == "reader" {
		return errOnReader
	}
	if ok && p.view.Waiting == "pin" {
		return &UsageError{Msg: "type the PIN, then Enter PIN: OK alone does not answer a PIN prompt"}
	}
	select {
	case p.keys <- ok:
		p.by = by
		return nil
	default:
		return errNotWaiting
	}
}

// LastPressedBy implements ceremonies.KeyAttributor: the runner records
// this account as who confirmed, retried, cancelled or entered a PIN.
func (p *Pad) LastPressedBy() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.by
}

// PIN hands by's PIN to a waiting EnterPIN; the runner wipes it and
// records by as who entered it (LastPressedBy).
func (p *Pad) PIN(pin []byte, by string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.view.Waiting != "pin" {
		ceremonies.Wipe(pin)
		if p.view.Waiting == "reader" {
			return errOnReader
		}
		return errNotWaiting
	}
	select {
	case p.pins <- pin:
		p.by = by
		return nil
	default:
		ceremonies.Wipe(pin)
		return errNotWaiting
	}
}

var (
	_ ceremonies.PinPad          = (*Pad)(nil)
	_ ceremonies.KeyAttributor   = (*Pad)(nil)
	_ ceremonies.ReaderPINNotice = (*Pad)(nil)
)
