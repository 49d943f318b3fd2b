// Package pinchange holds the PIN change ceremony: the PIN of a card's
// backup slot or user slot, each independently (the manual: "the PINs for
// both functions/slots need to be changed independently").
//
// Rules a caller must know: the old PIN, the new PIN and its repetition
// pass through the PIN pad port and are wiped after use; events record
// the rule a refused PIN broke, never the PIN. CHANGE REFERENCE DATA is
// atomic on the card; a stop between it and its event leaves a
// pin.change_requested without an outcome, which a resume reports as
// uncertain (resolving it without spending a try is issue 5's work).
package pinchange

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Kind and phases.
const (
	Kind               = "pin-change"
	PhaseCreated       = "created"
	PhaseCreatedPaused = "created_paused"
	PhaseCompleted     = "completed"
	PhaseAborted       = "aborted"
	PhaseFailed        = "failed"
)

// Definition is the pin-change ceremony.
func Definition() *engine.Definition {
	live := []string{PhaseCreated, PhaseCreatedPaused}
	ts := []engine.Transition{
		{Event: events.PINChanged{}.EventType(), From: []string{PhaseCreated}, To: PhaseCompleted},
		{Event: events.CeremonyAborted{}.EventType(), From: live, To: PhaseAborted},
		{Event: events.CeremonyFailed{}.EventType(), From: live, To: PhaseFailed},
	}
	return &engine.Definition{
		Kind: Kind, First: events.PINChangeStarted{}.EventType(), Initial: PhaseCreated,
		Terminal:    []string{PhaseCompleted, PhaseAborted, PhaseFailed},
		Transitions: append(ts, engine.Pausable(PhaseCreated)...),
		NewState:    func() engine.State { return &State{} },
	}
}

// State is the fold of a pin-change ceremony.
type State struct {
	Operator string
	Slot     ceremonies.Slot
	Serial   string
	Pending  bool // CHANGE REFERENCE DATA asked for, no outcome recorded
	Refused  []string
	Ended    string
}

// Apply folds one event. Pure.
func (s *State) Apply(_ events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *events.PINChangeStarted:
		s.Operator, s.Slot = ev.Operator, ceremonies.Slot(ev.Slot)
	case *events.PINPolicyRefused:
		s.Refused = append(s.Refused, ev.Rule)
	case *events.PINChangeRequested:
		s.Serial, s.Pending = ev.Serial, true
	case *events.PINChanged:
		s.Pending = false
	case *events.PINRejected:
		s.Pending = false
	case *events.CeremonyAborted:
		s.Ended = ev.Reason
	case *events.CeremonyFailed:
		s.Ended = ev.Reason + "; " + ev.Recovery
	}
}

// Policy says why a new PIN is refused ("" when it is fine). The rule is
// stated without the PIN.
func Policy(oldPIN, newPIN, repeat []byte) string {
	switch {
	case !bytes.Equal(newPIN, repeat):
		return "the two entries of the new PIN differ"
	case len(newPIN) < 6 || len(newPIN) > 16:
		return "a PIN has 6 to 16 digits"
	case bytes.IndexFunc(newPIN, func(r rune) bool { return r < '0' || r > '9' }) >= 0:
		return "a PIN has digits only (the PIN pad has no letters)"
	case string(newPIN) == ceremonies.DefaultPIN:
		return "the new PIN is the factory default 123456"
	case bytes.Equal(newPIN, oldPIN):
		return "the new PIN equals the old one"
	}
	return ""
}

// Runner drives one pin-change ceremony.
type Runner struct {
	Engine  *engine.Engine
	Station *ceremonies.Station
	Say     func(string)

	inst *engine.Instance
	drv  *ceremonies.Driver
}

// Run drives inst until it ends or an error needs a person.
func (r *Runner) Run(ctx context.Context, inst *engine.Instance) error {
	var st State
	inst.View(func(s engine.State) { st = *s.(*State) })
	r.inst = inst
	r.drv = &ceremonies.Driver{Inst: inst, Station: r.Station, Operator: st.Operator, Say: r.Say}
	defer r.Engine.Leases().ReleaseAll(inst.ID())
	if err := r.Engine.Leases().Acquire("reader:"+r.Station.Reader.Name(), inst.ID()); err != nil {
		return err
	}
	if st.Pending {
		r.drv.Tell(fmt.Sprintf("A PIN change on card %s was sent with no recorded outcome: the card has either PIN; verify it before relying on one.", st.Serial))
		return inst.Record(ctx, events.SourceEngine, &events.CeremonyFailed{
			Reason:   fmt.Sprintf("the process stopped between CHANGE REFERENCE DATA on card %s and its outcome", st.Serial),
			Recovery: "try the new PIN once (the retry counter shows what a wrong try costs); if it fails the old PIN is still in force"})
	}
	for {
		var err error
		switch phase := inst.Phase(); phase {
		case PhaseCompleted, PhaseAborted, PhaseFailed:
			return nil
		case PhaseCreated:
			err = r.change(ctx, st.Slot)
		case PhaseCreatedPaused:
			err = r.drv.Paused(ctx)
		default:
			return fmt.Errorf("pinchange: ceremony %s: unknown phase %q", inst.ID(), phase)
		}
		if err = r.drv.Settle(ctx, err); err != nil {
			return err
		}
	}
}

// enter reads one PIN under a step deadline.
func (r *Runner) enter(ctx context.Context, step, line1, line2 string) ([]byte, error) {
	sctx, err := r.inst.BeginStep(ctx, step, r.Station.Timeout())
	if err != nil {
		return nil, err
	}
	pin, err := r.Station.Pad.EnterPIN(sctx, line1, line2)
	if err != nil {
		if errors.Is(context.Cause(sctx), engine.ErrStepTimedOut) {
			return nil, ceremonies.ErrPaused
		}
		return nil, err
	}
	if err := r.inst.EndStep(ctx, step); err != nil {
		ceremonies.Wipe(pin)
		return nil, ceremonies.ErrPaused
	}
	return pin, nil
}

func (r *Runner) change(ctx context.Context, slot ceremonies.Slot) error {
	card, err := ceremonies.PresentCard(ctx, r.inst, r.Engine.Leases(), r.Station, 1)
	if err != nil {
		return err
	}
	serial, pinName := card.Serial(), card.PINName(slot)
	for {
		tries, err := card.PINTries(slot)
		if err != nil {
			return err
		}
		if err := r.inst.Record(ctx, events.SourceCard, &events.PINRetriesRead{Serial: serial, PIN: pinName, TriesLeft: tries, LastTry: tries == 1}); err != nil {
			return err
		}
		if tries == 0 {
			if err := r.inst.Record(ctx, events.SourceCard, &events.CardBlocked{Serial: serial, PIN: pinName}); err != nil {
				return err
			}
			return r.inst.Record(ctx, events.SourceEngine, &events.CeremonyFailed{
				Reason: fmt.Sprintf("the %s of card %s is blocked", pinName, serial), Recovery: "a blocked PIN cannot be changed: reset it (PW1 with the admin PIN) or replace the card"})
		}
		line2 := fmt.Sprintf("%d tries left", tries)
		if tries == 1 {
			line2 = "LAST TRY"
		}
		oldPIN, err := r.enter(ctx, "old PIN "+serial, "Old PIN", line2)
		if err != nil {
			return err
		}
		newPIN, repeat, err := r.newPIN(ctx, serial, oldPIN)
		if err != nil {
			ceremonies.Wipe(oldPIN)
			return err
		}
		if err := r.inst.Record(ctx, events.SourceEngine, &events.PINChangeRequested{Serial: serial, PIN: pinName}); err != nil {
			return err
		}
		cerr := card.ChangePIN(slot, oldPIN, newPIN)
		ceremonies.Wipe(oldPIN)
		ceremonies.Wipe(newPIN)
		ceremonies.Wipe(repeat)
		var wrong *ceremonies.WrongPINError
		switch {
		case cerr == nil:
			r.drv.Tell(fmt.Sprintf("The %s of card %s is changed.", pinName, serial))
			return r.inst.Record(ctx, events.SourceCard, &events.PINChanged{Serial: serial, PIN: pinName})
		case errors.As(cerr, &wrong):
			if err := r.inst.Record(ctx, events.SourceCard, &events.PINRejected{Serial: serial, PIN: pinName, TriesLeft: wrong.TriesLeft}); err != nil {
				return err
			}
			r.Station.Pad.Show("Wrong PIN", fmt.Sprintf("%d tries left", wrong.TriesLeft))
		case errors.Is(cerr, ceremonies.ErrPINBlocked):
			if err := r.inst.Record(ctx, events.SourceCard, &events.PINRejected{Serial: serial, PIN: pinName, TriesLeft: 0}); err != nil {
				return err
			}
		default:
			return cerr
		}
	}
}

// newPIN reads the new PIN twice until it meets the policy.
func (r *Runner) newPIN(ctx context.Context, serial string, oldPIN []byte) ([]byte, []byte, error) {
	for {
		newPIN, err := r.enter(ctx, "new PIN "+serial, "New PIN", "6-16 digits")
		if err != nil {
			return nil, nil, err
		}
		repeat, err := r.enter(ctx, "repeat PIN "+serial, "Repeat new PIN", "")
		if err != nil {
			ceremonies.Wipe(newPIN)
			return nil, nil, err
		}
		rule := Policy(oldPIN, newPIN, repeat)
		if rule == "" {
			return newPIN, repeat, nil
		}
		ceremonies.Wipe(newPIN)
		ceremonies.Wipe(repeat)
		r.drv.Tell("New PIN refused: " + rule + ".")
		r.Station.Pad.Show("PIN refused", "")
		if err := r.inst.Record(ctx, events.SourceEngine, &events.PINPolicyRefused{Serial: serial, Rule: rule}); err != nil {
			return nil, nil, err
		}
	}
}
