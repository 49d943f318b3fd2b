package ceremonies

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Driver holds what every ceremony runner needs to turn the expected
// outcomes of a step (a timeout, a refused card, Cancel, another process
// writing) into events or a retry, the same way for every kind.
type Driver struct {
	Inst     *engine.Instance
	Station  *Station
	Operator string
	Say      func(string) // operator messages; never given a secret
}

// OperatorOf returns who runs the ceremony in this process: env.Operator
// (the resumer), else first, the operator who started it.
func OperatorOf(env Env, first string) string {
	if env.Operator != "" {
		return env.Operator
	}
	return first
}

// Resumed tells and records (ceremony.resumed) who resumed the ceremony
// and what must be redone (ARCHITECTURE.md, "Engine rules").
func (d *Driver) Resumed(ctx context.Context, redo []string) error {
	if len(redo) == 0 {
		redo = []string{"nothing: no secret was held in memory at the stop"}
	}
	for _, s := range redo {
		d.Tell("To redo: " + s)
	}
	return d.Inst.Record(ctx, events.SourceOperator, &events.CeremonyResumed{Phase: d.Inst.Phase(), Redo: redo, By: d.Operator})
}

// Tell gives the operator a message.
func (d *Driver) Tell(s string) {
	if d.Say != nil {
		d.Say(s)
	}
}

// Settle returns nil when the runner should look at the phase again, or
// the error that needs a person.
func (d *Driver) Settle(ctx context.Context, err error) error {
	var refused *RefusedError
	if rerr := recordReaderEvents(ctx, d.Inst, d.Station); rerr != nil {
		return rerr
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrPaused):
		d.Tell("The step timed out: the ceremony is paused. OK retries, Cancel ends it.")
		return nil
	case errors.As(err, &refused):
		d.Tell(refused.Error())
		if rerr := WaitRemoved(ctx, d.Inst, d.Station, "remove refused card"); rerr != nil && !errors.Is(rerr, ErrPaused) {
			return rerr
		}
		return nil
	case errors.Is(err, ErrCancelled):
		return d.Abort(ctx, "cancelled on the PIN pad")
	case errors.Is(err, ErrCardTerminated):
		d.Tell(fmt.Sprintf("%v. Take it out and insert another card.", err))
		return nil
	case errors.Is(err, ErrCardRemoved):
		// The card, the reader or pcscd went away mid-step: what the card
		// did is recorded step by step, and the loss as card.reader_event;
		// present it again and go on.
		if rerr := recordLoss(ctx, d.Inst, d.Station, err); rerr != nil {
			return rerr
		}
		switch {
		case errors.Is(err, ErrServiceGone):
			d.Tell(fmt.Sprintf("%v: start it again (the ceremony waits), then insert the card again to go on.", err))
		case errors.Is(err, ErrReaderGone):
			d.Tell(fmt.Sprintf("%v: plug it in again (the ceremony waits), then insert the card again to go on.", err))
		default:
			d.Tell(fmt.Sprintf("%v: insert the card again to go on.", err))
		}
		return nil
	case errors.Is(err, events.ErrConflict), errors.Is(err, engine.ErrEnded):
		// Another process wrote to this ceremony (an abort, say): look again.
		if rerr := d.Inst.Refresh(ctx); rerr != nil {
			return rerr
		}
		if d.Inst.Ended() {
			d.Tell(fmt.Sprintf("Ceremony %s was ended elsewhere (%s).", d.Inst.ID(), d.Inst.Phase()))
		}
		return nil
	}
	return err
}

// Steps are what a runner does in each phase that waits for a person or
// the hardware; Loop looks the phase up after every step.
type Steps map[string]func(context.Context) error

// Loop drives the ceremony phase by phase until it ends or an error
// needs a person: the one runner loop of every kind. A paused phase asks
// the operator to retry or end (Paused); a live phase without a step is
// an error naming it.
func (d *Driver) Loop(ctx context.Context, steps Steps) error {
	if d.Station != nil && d.Station.Operator == "" {
		d.Station.Operator = d.Operator // Station.Actor's fallback
	}
	for {
		if d.Inst.Ended() {
			return nil
		}
		phase := d.Inst.Phase()
		var err error
		if d.Station.pendingScriptStep() && !engine.IsPaused(phase) {
			err = d.checkOffScriptStep(ctx)
		} else if d.approvalPending() && !engine.IsPaused(phase) {
			err = d.RequireApproval(ctx) // dual control: before the first card step
		} else if step, ok := steps[phase]; ok {
			err = step(ctx)
		} else if engine.IsPaused(phase) {
			err = d.Paused(ctx)
		} else {
			return fmt.Errorf("ceremony %s (%s): no step for phase %q", d.Inst.ID(), d.Inst.Kind(), phase)
		}
		if err = d.Settle(ctx, err); err != nil {
			return err
		}
	}
}

// Abort records the operator's abort.
func (d *Driver) Abort(ctx context.Context, reason string) error {
	d.Tell("Aborted: " + reason)
	return d.Inst.Record(ctx, events.SourceOperator, &events.CeremonyAborted{Reason: reason, By: d.actor()})
}

// actor is who pressed the key the Driver acts on: the pad's account when
// it knows it (KeyAttributor), else the run's operator.
func (d *Driver) actor() string {
	if ka, ok := d.Station.Pad.(KeyAttributor); ok {
		if who := ka.LastPressedBy(); who != "" {
			return who
		}
	}
	return d.Operator
}

// Actor is who pressed the key the Driver acts on (see actor).
func (d *Driver) Actor() string { return d.actor() }

// Paused asks, after a timeout, whether to retry the step or end.
func (d *Driver) Paused(ctx context.Context) error {
	step := d.Inst.PausedStep()
	d.Station.Pad.Show("Timed out", "OK=retry Cancel=end")
	ok, err := d.Station.Pad.Confirm(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return d.Abort(ctx, fmt.Sprintf("the operator ended the ceremony after the step %q timed out", step))
	}
	return d.Inst.Record(ctx, events.SourceOperator, &events.StepRetried{Step: step, By: d.actor()})
}
