package ceremonies

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Dual control (ARCHITECTURE.md, "Console"): a station may require, per
// kind, that a second operator approve a ceremony before its first card
// step. The start records the requirement (ceremony.approval_required,
// naming who started it); the runner waits at the station's approval
// desk before the kind's first step and records the approval
// (ceremony.approved, by and role).

// ApprovalStep is the name of the step that waits for the approval.
const ApprovalStep = "second operator's approval"

// ApproverRole is the role an approval must come from: an operator
// other than the one who started the ceremony.
const ApproverRole = "operator"

// ApprovalAnswer is an approval as given at the station's desk: the
// approving account and its role.
type ApprovalAnswer struct {
	Name, Role string
}

// ApprovalDesk takes a second operator's approval at the station
// (the console's web.Approvals). starter is who started the ceremony:
// the desk may refuse them at once, the Driver refuses them anyway.
type ApprovalDesk interface {
	AskApproval(ctx context.Context, starter string) (ApprovalAnswer, error)
}

// ApprovalState says whether the ceremony is under dual control
// (ceremony.approval_required), who started it (and so cannot approve),
// and the approval recorded, if any (ceremony.approved).
func ApprovalState(inst *engine.Instance) (required bool, starter string, approved *events.Approved) {
	if _, last := inst.Tally(events.ApprovalRequired{}.EventType()); last != nil {
		if r, ok := last.(*events.ApprovalRequired); ok {
			required, starter = true, r.Starter
		}
	}
	if _, last := inst.Tally(events.Approved{}.EventType()); last != nil {
		approved, _ = last.(*events.Approved)
	}
	return required, starter, approved
}

// CheckApprover says why who (in role) cannot approve a ceremony started
// by starter; nil when they can.
func CheckApprover(starter, who, role string) error {
	if role != ApproverRole {
		return fmt.Errorf("%s is a %s: only an operator approves a ceremony under dual control", who, role)
	}
	if who == starter {
		return fmt.Errorf("%s started this ceremony: under dual control a second operator must approve it", who)
	}
	return nil
}

// approvalPending reports whether the ceremony still waits for its
// second operator's approval.
func (d *Driver) approvalPending() bool {
	required, _, approved := ApprovalState(d.Inst)
	return required && approved == nil
}

// RequireApproval waits at the station's approval desk for a second
// operator's approval and records it (ceremony.approved); nil when none
// is required or it is recorded. Driver.Loop calls it before the kind's
// first step, so no card is touched before the approval; a timeout here
// (ErrPaused) leaves nothing to settle.
func (d *Driver) RequireApproval(ctx context.Context) error {
	required, starter, approved := ApprovalState(d.Inst)
	if !required || approved != nil {
		return nil
	}
	desk := d.Station.Approvals
	if desk == nil {
		return fmt.Errorf("ceremony %s is under dual control: a second operator must approve it before its first card step, and this station cannot take an approval: resume it in the console ('ceremony serve --http'), where another operator approves from their own session", d.Inst.ID())
	}
	sctx, err := d.Inst.BeginStep(ctx, ApprovalStep, d.Station.Timeout())
	if err != nil {
		return err
	}
	d.Station.Pad.Show("Waiting for a second", "operator's approval")
	d.Tell(fmt.Sprintf("Waiting for a second operator's approval (not %s): another operator approves from their own session.", starter))
	for {
		a, err := desk.AskApproval(sctx, starter)
		if err != nil {
			if errors.Is(context.Cause(sctx), engine.ErrStepTimedOut) {
				return ErrPaused
			}
			return err
		}
		if err := CheckApprover(starter, a.Name, a.Role); err != nil {
			d.Tell(err.Error() + ": the approval is not taken.")
			continue
		}
		if err := d.Inst.Record(ctx, events.SourceOperator, &events.Approved{By: a.Name, Role: a.Role}); err != nil {
			return err
		}
		d.Tell(fmt.Sprintf("Approved by %s (%s).", a.Name, a.Role))
		break
	}
	if err := d.Inst.EndStep(ctx, ApprovalStep); err != nil {
		return ErrPaused
	}
	return nil
}
