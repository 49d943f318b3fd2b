// Package pinchange holds the PIN change ceremony: the PIN of a card's
// backup slot or user slot, each independently (the manual: "the PINs for
// both functions/slots need to be changed independently").
//
// Rules a caller must know: the old PIN, the new PIN and its repetition
// pass through the PIN pad port and are wiped after use, or, when the card
// is in a class-3 reader that can change a PIN (ceremonies.ReaderPINChange),
// are typed on the reader's keypad and never reach this process (events
// say entry "reader"; reader.go); events record
// the rule a refused PIN broke, never the PIN. CHANGE REFERENCE DATA is
// atomic on the card, but its event is not: a stop between the two leaves
// a pin.change_requested without an outcome. Resume settles it on the
// card, by the retry counter where that tells (no try spent), else by one
// VERIFY of the new PIN (which spends a try if the change did not happen),
// and records how (pin.change_resolved).
package pinchange

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/custody"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// State is the fold of a pin-change ceremony.
type State struct {
	Operator string
	Slot     ceremonies.Slot
	Serial   string
	Pending  bool   // CHANGE REFERENCE DATA asked for, no outcome recorded
	Entry    string // where the PINs of the last change were typed: "host" or "reader"
	Tries    int    // the retry counter read last (before the change)
	Refused  []string
	Ended    string
	// Custodian is the person the card goes to once its PIN is changed
	// (--custodian); Reassigned the assignment recorded.
	Custodian  string
	Reassigned *custody.Assigned
}

// Apply folds one event. Pure.
func (s *State) Apply(_ events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *events.PINChangeStarted:
		s.Operator, s.Slot, s.Custodian = ev.Operator, ceremonies.Slot(ev.Slot), ev.Custodian
	case *custody.Assigned:
		cp := *ev
		s.Reassigned = &cp
	case *events.PINPolicyRefused:
		s.Refused = append(s.Refused, ev.Rule)
		s.Pending = false // a reader refuses a new PIN before the card sees it
	case *events.PINRetriesRead:
		s.Tries = ev.TriesLeft
	case *events.PINChangeRequested:
		s.Serial, s.Pending, s.Entry = ev.Serial, true, ev.Entry
	case *events.PINChanged, *events.PINRejected, *events.PINChangeResolved:
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
	ceremonies.Env

	inst *engine.Instance
	drv  *ceremonies.Driver
}

// Run drives inst until it ends or an error needs a person.
func (r *Runner) Run(ctx context.Context, inst *engine.Instance) error {
	st, err := ceremonies.StateOf(inst, func(s *State) State { return *s })
	if err != nil {
		return err
	}
	r.inst = inst
	r.drv = &ceremonies.Driver{Inst: inst, Station: r.Station, Operator: ceremonies.OperatorOf(r.Env, st.Operator), Say: r.Say}
	if r.Resumed && !inst.Ended() {
		if err := r.drv.Resumed(ctx, nil); err != nil {
			return err
		}
	}
	defer r.Engine.Leases().ReleaseAll(inst.ID())
	if err := r.Engine.Leases().Acquire("reader:"+r.Station.Reader.Name(), inst.ID()); err != nil {
		return err
	}
	return r.drv.Loop(ctx, ceremonies.Steps{
		PhaseCreated: func(ctx context.Context) error {
			// The sign-offs come before the card is touched: a timeout
			// among them leaves nothing to settle.
			if err := r.drv.RequireWitnesses(ctx); err != nil {
				return err
			}
			if r.state().Pending {
				return r.resolve(ctx)
			}
			return r.change(ctx, st.Slot)
		},
	})
}

// state copies the ceremony's state (Run checked its type first).
func (r *Runner) state() State {
	st, _ := ceremonies.StateOf(r.inst, func(s *State) State { return *s })
	return st
}

// maxTries is the retry counter of a card after a successful change
// (OpenPGP card: 3).
const maxTries = 3

// resolve settles a change whose outcome was not recorded. The retry
// counter, compared with the one read before the change, tells without
// spending a try: lower, the card refused the old PIN; back to the
// maximum from below, the change happened; equal below the maximum, the
// command never ran. Only "maximum before and after" needs one VERIFY of
// the new PIN.
func (r *Runner) resolve(ctx context.Context) error {
	st := r.state()
	card, err := ceremonies.PresentCard(ctx, r.inst, r.Engine.Leases(), r.Station, 1)
	if err != nil {
		return err
	}
	if card.Serial() != st.Serial {
		return ceremonies.Refuse(ctx, r.inst, card.Serial(), ceremonies.RefusedWrongCard,
			fmt.Sprintf("insert card %s: its PIN change must be settled first", st.Serial))
	}
	pinName := card.PINName(st.Slot)
	now, err := card.PINTries(st.Slot)
	if err != nil {
		return err
	}
	if err := r.inst.Record(ctx, events.SourceCard, &events.PINRetriesRead{Serial: st.Serial, PIN: pinName, TriesLeft: now, LastTry: now == 1}); err != nil {
		return err
	}
	settle := func(outcome, how string) error {
		if err := r.inst.Record(ctx, events.SourceEngine, &events.PINChangeResolved{Serial: st.Serial, PIN: pinName, Outcome: outcome, How: how}); err != nil {
			return err
		}
		if outcome == "changed" {
			r.drv.Tell(fmt.Sprintf("The interrupted PIN change on card %s had happened (%s): the new PIN is in force.", st.Serial, how))
			return r.changed(ctx, st.Serial, pinName, st.Entry)
		}
		r.drv.Tell(fmt.Sprintf("The interrupted PIN change on card %s had not happened (%s): the old PIN is still in force; change it again.", st.Serial, how))
		return nil
	}
	switch {
	case now < st.Tries:
		return settle("not-applied", "retry counter: the card refused the old PIN")
	case now == maxTries && st.Tries < maxTries:
		return settle("changed", "retry counter: reset by the change")
	case now == st.Tries && now < maxTries:
		return settle("not-applied", "retry counter: unchanged, the command never ran")
	}
	// Maximum before and after: only the new PIN can tell.
	r.drv.Tell("The retry counter cannot tell whether the change happened: type the NEW PIN once (a wrong guess spends one try).")
	verr, entry, err := r.verifyNew(ctx, card, st.Slot, st.Serial, now)
	if err != nil {
		return err
	}
	var wrong *ceremonies.WrongPINError
	switch {
	case verr == nil:
		return settle("changed", "verified new PIN")
	case errors.As(verr, &wrong):
		if err := r.inst.Record(ctx, events.SourceCard, &events.PINRejected{Serial: st.Serial, PIN: pinName, TriesLeft: wrong.TriesLeft, Entry: entry, By: r.Station.Actor()}); err != nil {
			return err
		}
		return settle("not-applied", "verified new PIN: refused, one try spent")
	}
	return verr
}

// enter reads one PIN under a step deadline.
func (r *Runner) enter(ctx context.Context, step, line1, line2 string) ([]byte, error) {
	return ceremonies.EnterPIN(ctx, r.inst, r.Station, step, line1, line2)
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
		line2 := ceremonies.TriesLeft(tries)
		if tries == 1 {
			line2 = "LAST TRY"
		}
		if rc, ok := card.(ceremonies.ReaderPINChange); ok && rc.HasReaderPINChange() {
			done, err := r.changeOnReader(ctx, rc, slot, serial, pinName, line2)
			if done || err != nil {
				return err
			}
			continue
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
		if err := r.inst.Record(ctx, events.SourceEngine, &events.PINChangeRequested{Serial: serial, PIN: pinName, Entry: entryHost}); err != nil {
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
			return r.changed(ctx, serial, pinName, entryHost)
		case errors.As(cerr, &wrong):
			if err := r.inst.Record(ctx, events.SourceCard, &events.PINRejected{Serial: serial, PIN: pinName, TriesLeft: wrong.TriesLeft, Entry: entryHost, By: r.Station.Actor()}); err != nil {
				return err
			}
			r.Station.Pad.Show("Wrong PIN", ceremonies.TriesLeft(wrong.TriesLeft))
		case errors.Is(cerr, ceremonies.ErrPINBlocked):
			if err := r.inst.Record(ctx, events.SourceCard, &events.PINRejected{Serial: serial, PIN: pinName, TriesLeft: 0, Entry: entryHost, By: r.Station.Actor()}); err != nil {
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

// changed records the card's reassignment when --custodian asked for one
// (custody.card_assigned, once, before the change completes the
// ceremony), then the change.
func (r *Runner) changed(ctx context.Context, serial, pinName, entry string) error {
	if st := r.state(); st.Custodian != "" && st.Reassigned == nil {
		a, err := custody.New(r.Inventory, serial, st.Custodian, "", r.drv.Operator)
		if err != nil {
			return err
		}
		if err := r.inst.Record(ctx, events.SourceOperator, a); err != nil {
			return err
		}
		r.drv.Tell(custody.Describe(a))
	}
	return r.inst.Record(ctx, events.SourceCard, &events.PINChanged{Serial: serial, PIN: pinName, Entry: entry})
}
