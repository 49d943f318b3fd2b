package opgpcard

import (
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/part10"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// PINPadSlot is a slot whose reader may have its own PIN pad (PC/SC part
// 10): the PC/SC slot implements it, the in-process emulator does not.
type PINPadSlot interface {
	Features() (part10.Features, error)
	Control(ioctl uint32, in []byte) ([]byte, error)
}

// readerVerifyTimeout bounds one PIN entry on the reader's keypad, in
// seconds (bTimerOut); the step's deadline bounds the whole step.
const readerVerifyTimeout = 60

// pinPad returns the slot's VERIFY_PIN_DIRECT control code, if any.
func pinPad(slot Slot) (PINPadSlot, uint32, bool) {
	return feature(slot, part10.FeatureVerifyPINDirect)
}

// feature returns the slot's control code of a part 10 feature, if any.
func feature(slot Slot, tag part10.Feature) (PINPadSlot, uint32, bool) {
	ps, ok := slot.(PINPadSlot)
	if !ok {
		return nil, 0, false
	}
	f, err := ps.Features()
	if err != nil {
		return nil, 0, false
	}
	ioctl, ok := f.Control(tag)
	return ps, ioctl, ok
}

// HasReaderPINPad implements ceremonies.ReaderPINPad.
func (c *Card) HasReaderPINPad() bool {
	_, _, ok := pinPad(c.slot)
	return ok
}

// VerifyPINOnReader implements ceremonies.ReaderPINPad: a PIN_VERIFY
// structure for the OpenPGP VERIFY of the slot's PIN (variable length,
// ASCII, 6 to 127 digits, as GnuPG builds it) through
// FEATURE_VERIFY_PIN_DIRECT. The answer is the card's status word, or a
// reader code (64 00 timeout, 64 01 cancelled).
func (c *Card) VerifyPINOnReader(s ceremonies.Slot) error {
	ps, ioctl, ok := pinPad(c.slot)
	if !ok {
		return fmt.Errorf("card %s: the reader has no PIN pad", c.serial)
	}
	ref := ref(s)
	in, err := part10.EncodeVerify(part10.VerifyParams{TimeoutSec: readerVerifyTimeout, MinLen: readerVerifyMinLen, MaxLen: readerVerifyMaxLen, Format: part10.FormatASCII, PINRef: byte(ref)})
	if err != nil {
		return fmt.Errorf("card %s: %w", c.serial, err)
	}
	resp, err := ps.Control(ioctl, in)
	if err != nil {
		return c.wrap("verify "+c.PINName(s)+" on the reader", err)
	}
	return c.readerVerdict(s, resp)
}

// HasReaderPINChange implements ceremonies.ReaderPINChange.
func (c *Card) HasReaderPINChange() bool {
	_, _, ok := feature(c.slot, part10.FeatureModifyPINDirect)
	return ok
}

// ChangePINOnReader implements ceremonies.ReaderPINChange: a PIN_MODIFY
// structure for the OpenPGP CHANGE REFERENCE DATA of the slot's PIN (PW1
// through reference 81, PW3 through 83; current PIN, new PIN and its
// confirmation typed on the keypad; variable length, ASCII, as GnuPG
// builds it) through FEATURE_MODIFY_PIN_DIRECT. The new PIN's length is
// bounded by the PIN change policy (6 to 16 digits); the reader also
// refuses a confirmation that differs. The rules that need the PIN itself
// (not the default, not the old one) cannot be checked on the host.
func (c *Card) ChangePINOnReader(s ceremonies.Slot) error {
	ps, ioctl, ok := feature(c.slot, part10.FeatureModifyPINDirect)
	if !ok {
		return fmt.Errorf("card %s: the reader cannot change a PIN on its keypad", c.serial)
	}
	pinRef := part10.PW3Admin
	if s == ceremonies.UserSlot {
		pinRef = part10.PW1Sign // CHANGE REFERENCE DATA names PW1 as 81
	}
	in, err := part10.EncodeModify(part10.ModifyParams{TimeoutSec: readerVerifyTimeout, MinLen: readerChangeMinLen, MaxLen: readerChangeMaxLen, Format: part10.FormatASCII, PINRef: pinRef})
	if err != nil {
		return fmt.Errorf("card %s: %w", c.serial, err)
	}
	resp, err := ps.Control(ioctl, in)
	if err != nil {
		return c.wrap("change "+c.PINName(s)+" on the reader", err)
	}
	return c.readerAnswer(s, "CHANGE REFERENCE DATA", resp, readerChangeMinLen, readerChangeMaxLen)
}

// PIN lengths on the reader: any OpenPGP PIN of 6 digits or more for
// VERIFY; for a change the PIN change policy's 6 to 16 digits (the
// current PIN is typed within the same bounds).
const (
	readerVerifyMinLen = 6
	readerVerifyMaxLen = 127
	readerChangeMinLen = 6
	readerChangeMaxLen = 16
)

// readerVerdict maps the reader's answer to a VERIFY to the port's errors.
func (c *Card) readerVerdict(s ceremonies.Slot, resp []byte) error {
	return c.readerAnswer(s, "VERIFY", resp, readerVerifyMinLen, readerVerifyMaxLen)
}

// readerAnswer maps the reader's answer to the port's errors.
func (c *Card) readerAnswer(s ceremonies.Slot, cmd string, resp []byte, minLen, maxLen int) error {
	err := part10.ResponseError(resp)
	var cs *part10.CardStatus
	switch {
	case err == nil:
		return nil
	case errors.Is(err, part10.ErrTimeout):
		return ceremonies.ErrReaderTimeout
	case errors.Is(err, part10.ErrCancelled):
		return ceremonies.ErrCancelled
	case errors.Is(err, part10.ErrPINsDiffer):
		return &ceremonies.PINRuleError{Rule: "the two entries of the new PIN differ"}
	case errors.Is(err, part10.ErrPINLength):
		return &ceremonies.PINRuleError{Rule: fmt.Sprintf("a PIN has %d to %d digits", minLen, maxLen)}
	case errors.As(err, &cs):
		serr := openpgp.StatusError(cs.SW, cmd+" "+c.PINName(s))
		var wrong *openpgp.WrongPINError
		switch {
		case errors.As(serr, &wrong) && wrong.TriesLeft > 0:
			return &ceremonies.WrongPINError{TriesLeft: wrong.TriesLeft}
		case errors.Is(serr, openpgp.ErrPINBlocked):
			return fmt.Errorf("card %s: %w", c.serial, ceremonies.ErrPINBlocked)
		}
		return c.wrap(cmd+" "+c.PINName(s)+" on the reader", serr)
	}
	return c.wrap(cmd+" "+c.PINName(s)+" on the reader", err)
}
