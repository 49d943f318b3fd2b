package web

import (
	"context"
	"fmt"
	"sync"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// Approvals is the console's approval desk (ceremonies.ApprovalDesk),
// shaped as the witness desk (Desk): a run under dual control waits here
// before its first card step, and a second operator approves from their
// own session; the approval is the account's name and role.
type Approvals struct {
	mu      sync.Mutex
	starter string // who started the ceremony; "": not waiting
	answers handoff
	pad     *Pad // mirrors the desk's state to every page watching
}

// NewApprovals returns the approval desk of the run whose PIN pad is pad.
func NewApprovals(pad *Pad) *Approvals {
	return &Approvals{answers: newHandoff(), pad: pad}
}

// ApprovalView is what the pages show of the approval desk: open while
// the run waits for a second operator, other than Starter, to approve.
type ApprovalView struct {
	Open    bool   `json:"open"`
	Starter string `json:"starter,omitempty"`
}

func (d *Approvals) set(starter string) {
	d.mu.Lock()
	d.starter = starter
	d.mu.Unlock()
	d.pad.set(func(v *PadView) { v.Approval = ApprovalView{Open: starter != "", Starter: starter} })
}

// AskApproval implements ceremonies.ApprovalDesk: it waits for an
// operator account's approval from a page.
func (d *Approvals) AskApproval(ctx context.Context, starter string) (ceremonies.ApprovalAnswer, error) {
	who, err := d.answers.wait(ctx, func() { d.set(starter) }, func() { d.set("") })
	if err != nil {
		return ceremonies.ApprovalAnswer{}, err
	}
	return ceremonies.ApprovalAnswer{Name: who.Name, Role: who.Role}, nil
}

// Approve hands who's approval to the waiting runner. It returns false
// when the desk does not wait, and ErrConflict when who cannot approve
// (the starter; the route lets only operators reach it).
func (d *Approvals) Approve(who Actor) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.starter == "" {
		return false, nil
	}
	if err := ceremonies.CheckApprover(d.starter, who.Name, who.Role); err != nil {
		return false, fmt.Errorf("%v: another operator approves from their own session: %w", err, ErrConflict)
	}
	if !d.answers.give(who) {
		return false, nil
	}
	d.starter = "" // taken: the runner records it
	return true, nil
}

var _ ceremonies.ApprovalDesk = (*Approvals)(nil)
