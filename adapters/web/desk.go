package web

import (
	"context"
	"fmt"
	"sync"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// Desk is the console's witness desk (ceremonies.WitnessDesk): when a
// ceremony requires witnesses before it completes, its runner waits here
// and each witness signs off from their own session; the sign-off is the
// account's name and role, never a typed name.
type Desk struct {
	mu      sync.Mutex
	n, of   int // the sign-off asked for, of how many; 0: not waiting
	answers handoff
	pad     *Pad            // mirrors the desk's state to every page watching
	signed  map[string]bool // the accounts whose sign-off the desk took
}

// NewDesk returns the witness desk of the run whose PIN pad is pad: the
// pad's view carries the desk's state to every page.
func NewDesk(pad *Pad) *Desk {
	return &Desk{answers: newHandoff(), pad: pad, signed: map[string]bool{}}
}

// DeskView is what the pages show of the desk.
type DeskView struct {
	Open bool `json:"open"`
	N    int  `json:"n"`
	Of   int  `json:"of"`
}

// View returns the desk's state.
func (d *Desk) View() DeskView {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DeskView{Open: d.n > 0, N: d.n, Of: d.of}
}

func (d *Desk) set(n, of int) {
	d.mu.Lock()
	d.n, d.of = n, of
	d.mu.Unlock()
	d.pad.set(func(v *PadView) { v.Desk = DeskView{Open: n > 0, N: n, Of: of} })
}

// AskWitness implements ceremonies.WitnessDesk: it waits for a witness
// account's sign-off from a page.
func (d *Desk) AskWitness(ctx context.Context, n, of int) (ceremonies.WitnessAnswer, error) {
	who, err := d.answers.wait(ctx, func() { d.set(n, of) }, func() { d.set(0, 0) })
	if err != nil {
		return ceremonies.WitnessAnswer{}, err
	}
	return ceremonies.WitnessAnswer{Name: who.Name, Role: who.Role}, nil
}

// SignOff hands who's sign-off to the waiting runner. It returns false
// when the desk does not wait, and ErrConflict when who signed off at
// this desk already (the sign-offs are by distinct witnesses).
func (d *Desk) SignOff(who Actor) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == 0 {
		return false, nil
	}
	if d.signed[who.Name] {
		return false, fmt.Errorf("%s signed off at this witness desk already: another witness signs off: %w", who.Name, ErrConflict)
	}
	if !d.answers.give(who) {
		return false, nil
	}
	d.n = 0 // taken: the next sign-off waits for the runner to ask again
	d.signed[who.Name] = true
	return true, nil
}

// handoff passes one account's answer from a page to the runner waiting
// at a desk (the witness desk, the approval desk).
type handoff struct{ answers chan Actor }

func newHandoff() handoff { return handoff{answers: make(chan Actor, 1)} }

// wait drops an answer left from an earlier wait, opens the desk, waits
// for the next answer or the end of ctx, and closes the desk.
func (h handoff) wait(ctx context.Context, open, shut func()) (Actor, error) {
	select {
	case <-h.answers:
	default:
	}
	open()
	defer shut()
	select {
	case who := <-h.answers:
		return who, nil
	case <-ctx.Done():
		return Actor{}, ctx.Err()
	}
}

// give hands who to the waiting runner; false when an answer is already
// on its way.
func (h handoff) give(who Actor) bool {
	select {
	case h.answers <- who:
		return true
	default:
		return false
	}
}

var _ ceremonies.WitnessDesk = (*Desk)(nil)
