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
	ps, ok := slot.(PINPadSlot)
	if !ok {
		return nil, 0, false
	}
	f, err := ps.Features()
	if err != nil {
		return nil, 0, false
	}
	ioctl, ok := f.Control(part10.FeatureVerifyPINDirect)
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
	in, err := part10.EncodeVerify(part10.VerifyParams{TimeoutSec: readerVerifyTimeout, MinLen: 6, MaxLen: 127, Format: part10.FormatASCII, PINRef: byte(ref)})
	if err != nil {
		return fmt.Errorf("card %s: %w", c.serial, err)
	}
	resp, err := ps.Control(ioctl, in)
	if err != nil {
		return c.wrap("verify "+c.PINName(s)+" on the reader", err)
	}
	return c.readerVerdict(s, resp)
}

// readerVerdict maps the reader's answer to the port's errors.
func (c *Card) readerVerdict(s ceremonies.Slot, resp []byte) error {
	err := part10.ResponseError(resp)
	var cs *part10.CardStatus
	switch {
	case err == nil:
		return nil
	case errors.Is(err, part10.ErrTimeout):
		return ceremonies.ErrReaderTimeout
	case errors.Is(err, part10.ErrCancelled):
		return ceremonies.ErrCancelled
	case errors.As(err, &cs):
		serr := openpgp.StatusError(cs.SW, "VERIFY "+c.PINName(s))
		var wrong *openpgp.WrongPINError
		switch {
		case errors.As(serr, &wrong) && wrong.TriesLeft > 0:
			return &ceremonies.WrongPINError{TriesLeft: wrong.TriesLeft}
		case errors.Is(serr, openpgp.ErrPINBlocked):
			return fmt.Errorf("card %s: %w", c.serial, ceremonies.ErrPINBlocked)
		}
		return c.wrap("verify "+c.PINName(s)+" on the reader", serr)
	}
	return c.wrap("verify "+c.PINName(s)+" on the reader", err)
}
