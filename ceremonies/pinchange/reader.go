package pinchange

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/events"
)

// Where the PINs are typed (events' Entry).
const (
	entryHost   = "host"   // the PIN pad port
	entryReader = "reader" // a class-3 reader's keypad (PC/SC part 10)
)

// changeOnReader runs one PIN change typed on a class-3 reader's keypad
// (ARCHITECTURE.md, "Hardware": PC/SC part 10 FEATURE_MODIFY_PIN_DIRECT):
// the current PIN, the new PIN and its repetition never reach this
// process. The reader checks the length and the repetition; the rules
// that need the PIN itself (not the default, not the old one) cannot be
// checked here, and the operator is told so. done reports that the
// ceremony moved on (changed, or blocked); otherwise the caller reads the
// retry counter and asks again.
func (r *Runner) changeOnReader(ctx context.Context, rc ceremonies.ReaderPINChange, slot ceremonies.Slot, serial, pinName, line2 string) (done bool, err error) {
	r.drv.Tell(fmt.Sprintf("Type on the reader's keypad: the current %s, then the new PIN (6-16 digits, not 123456, not the old one) twice. The PINs never reach this program, which cannot check the last two rules: keep to them.", pinName))
	if err := r.inst.Record(ctx, events.SourceEngine, &events.PINChangeRequested{Serial: serial, PIN: pinName, Entry: entryReader}); err != nil {
		return false, err
	}
	step := "change PIN on reader " + serial
	sctx, err := r.inst.BeginStep(ctx, step, r.Station.Timeout())
	if err != nil {
		return false, err
	}
	shown := ceremonies.ShowReaderPIN(r.Station.Pad, "Change PIN", line2+", on the reader")
	cerr := rc.ChangePINOnReader(slot)
	shown()
	if err := r.inst.EndStep(ctx, step); err != nil {
		return false, ceremonies.StepErr(sctx, err)
	}
	notApplied := func(how string) error {
		return r.inst.Record(ctx, events.SourceEngine, &events.PINChangeResolved{Serial: serial, PIN: pinName, Outcome: "not-applied", How: how})
	}
	var wrong *ceremonies.WrongPINError
	var rule *ceremonies.PINRuleError
	switch {
	case cerr == nil:
		r.drv.Tell(fmt.Sprintf("The %s of card %s is changed.", pinName, serial))
		return true, r.changed(ctx, serial, pinName, entryReader)
	case errors.As(cerr, &wrong):
		r.Station.Pad.Show("Wrong PIN", ceremonies.TriesLeft(wrong.TriesLeft))
		return false, r.inst.Record(ctx, events.SourceCard, &events.PINRejected{Serial: serial, PIN: pinName, TriesLeft: wrong.TriesLeft, Entry: entryReader, By: r.Station.Actor()})
	case errors.Is(cerr, ceremonies.ErrPINBlocked):
		return false, r.inst.Record(ctx, events.SourceCard, &events.PINRejected{Serial: serial, PIN: pinName, TriesLeft: 0, Entry: entryReader, By: r.Station.Actor()})
	case errors.As(cerr, &rule):
		r.drv.Tell("New PIN refused by the reader: " + rule.Rule + ".")
		r.Station.Pad.Show("PIN refused", "")
		return false, r.inst.Record(ctx, events.SourceEngine, &events.PINPolicyRefused{Serial: serial, Rule: rule.Rule})
	case errors.Is(cerr, ceremonies.ErrReaderTimeout):
		r.Station.Pad.Show("No PIN typed", "on the reader")
		return false, notApplied("nobody typed on the reader's keypad: the card was not asked")
	case errors.Is(cerr, ceremonies.ErrCancelled):
		if err := notApplied("cancelled on the reader's keypad: the card was not asked"); err != nil {
			return false, err
		}
		return false, ceremonies.ErrCancelled
	}
	return false, cerr
}

// verifyNew presents the new PIN once, to settle an interrupted change:
// on the reader's keypad when the card is in a class-3 reader, else
// through the PIN pad port.
func (r *Runner) verifyNew(ctx context.Context, card ceremonies.Card, slot ceremonies.Slot, serial string, tries int) (verr error, entry string, err error) {
	step := "check new PIN " + serial
	if rp, ok := card.(ceremonies.ReaderPINPad); ok && rp.HasReaderPINPad() {
		sctx, err := r.inst.BeginStep(ctx, step, r.Station.Timeout())
		if err != nil {
			return nil, "", err
		}
		done := ceremonies.ShowReaderPIN(r.Station.Pad, "Enter new PIN", ceremonies.TriesLeft(tries)+", on the reader")
		verr = rp.VerifyPINOnReader(slot)
		done()
		if err := r.inst.EndStep(ctx, step); err != nil {
			return nil, "", ceremonies.StepErr(sctx, err)
		}
		return verr, entryReader, nil
	}
	pin, err := r.enter(ctx, step, "Enter new PIN", ceremonies.TriesLeft(tries))
	if err != nil {
		return nil, "", err
	}
	defer ceremonies.Wipe(pin)
	return card.VerifyPIN(slot, pin), entryHost, nil
}
