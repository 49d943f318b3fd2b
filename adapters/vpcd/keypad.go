package vpcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/part10"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// Keypad is the PIN pad of a class-3 reader, on the card's side of the
// reader (ceremonies.PinPad fits: adapters/pinpad's scripted pad in tests,
// its terminal in 'ceremony card-emulator'). EnterPIN returns the digits
// typed, ceremonies.ErrCancelled for the Cancel key, or ctx's error when
// nobody typed in time; the caller wipes the PIN.
type Keypad interface {
	EnterPIN(ctx context.Context, line1, line2 string) ([]byte, error)
}

// readerCLA is the class of the class-3 reader's keypad messages (see
// adapters/pcsc/classthree): FF 06 PIN_VERIFY_STRUCTURE, FF 07
// PIN_MODIFY_STRUCTURE.
const readerCLA = 0xFF

// defaultEntryTimeout is the keypad's time for one entry when the
// structure's bTimerOut is 0 (the reader's default).
const defaultEntryTimeout = 60 * time.Second

// InsertWithKeypad is Insert into a reader of the classthree driver
// (adapters/pcsc/classthree), whose keypad is pad: besides APDUs it serves
// the driver's PIN entry messages. For FEATURE_VERIFY_PIN_DIRECT and
// FEATURE_MODIFY_PIN_DIRECT it asks pad for the PIN (the current one, the
// new one and its confirmation, as bConfirmPIN says), builds the command
// with the PINs inserted per the structure (part10's reader side), runs it
// on the card and answers the card's status word, or the reader's own: 64
// 00 nobody typed within bTimerOut, 64 01 Cancel, 64 02 the new PINs
// differ, 64 03 a PIN of the wrong length, 6B 80 a structure this reader
// does not follow. The PINs stay in this process and are wiped after use.
// A keypad error other than Cancel or its deadline ends the session (Err
// reports it).
func InsertWithKeypad(ctx context.Context, addr string, card *cardemu.Card, pad Keypad) (*Inserted, error) {
	if pad == nil {
		return nil, fmt.Errorf("vpcd: insert into %s: no keypad given (use Insert for a reader without one)", addr)
	}
	return insertCard(ctx, addr, card, pad)
}

// keypadEntry serves one FF message.
func (i *Inserted) keypadEntry(msg []byte) ([]byte, bool, error) {
	if len(msg) < 2 {
		return nil, false, fmt.Errorf("%w: keypad message of %d bytes", ErrProtocol, len(msg))
	}
	var apdu []byte
	var err error
	switch msg[1] {
	case byte(part10.FeatureVerifyPINDirect):
		apdu, err = i.verifyAPDU(msg[2:])
	case byte(part10.FeatureModifyPINDirect):
		apdu, err = i.modifyAPDU(msg[2:])
	default:
		return nil, false, fmt.Errorf("%w: unknown keypad message FF %02X", ErrProtocol, msg[1])
	}
	defer clear(apdu)
	if err != nil {
		if sw, ok := part10.ReaderStatus(err); ok {
			return sw, true, nil
		}
		if errors.Is(err, part10.ErrMalformed) {
			return []byte{0x6B, 0x80}, true, nil
		}
		return nil, false, fmt.Errorf("vpcd: the reader's keypad: %w", err)
	}
	resp := i.card.Process(apdu)
	if resp == nil {
		return nil, false, ErrPowerLost
	}
	defer clear(resp)
	if len(resp) < 2 {
		return nil, false, fmt.Errorf("%w: the card answered %d bytes", ErrProtocol, len(resp))
	}
	return bytes.Clone(resp[len(resp)-2:]), true, nil
}

func (i *Inserted) verifyAPDU(b []byte) ([]byte, error) {
	s, err := part10.DecodeVerifyStructure(b)
	if err != nil {
		return nil, err
	}
	minLen, maxLen := s.Limits()
	pin, err := i.enter(s.TimerOut, "Enter PIN", fmt.Sprintf("%d-%d digits, OK", minLen, maxLen))
	if err != nil {
		return nil, err
	}
	defer clear(pin)
	return s.APDU(pin)
}

func (i *Inserted) modifyAPDU(b []byte) ([]byte, error) {
	s, err := part10.DecodeModifyStructure(b)
	if err != nil {
		return nil, err
	}
	minLen, maxLen := s.Limits()
	var current []byte
	if s.AsksCurrentPIN() {
		if current, err = i.enter(s.TimerOut, "Enter PIN", "current PIN, OK"); err != nil {
			return nil, err
		}
		defer clear(current)
	}
	next, err := i.enter(s.TimerOut, "New PIN", fmt.Sprintf("%d-%d digits, OK", minLen, maxLen))
	if err != nil {
		return nil, err
	}
	defer clear(next)
	if s.AsksConfirmation() {
		again, err := i.enter(s.TimerOut, "Confirm new PIN", "again, OK")
		if err != nil {
			return nil, err
		}
		same := bytes.Equal(again, next)
		clear(again)
		if !same {
			return nil, part10.ErrPINsDiffer
		}
	}
	return s.APDU(current, next)
}

// enter reads one entry within bTimerOut seconds (0: the default).
func (i *Inserted) enter(timerOut byte, line1, line2 string) ([]byte, error) {
	d := defaultEntryTimeout
	if timerOut > 0 {
		d = time.Duration(timerOut) * time.Second
	}
	ctx, cancel := context.WithTimeout(i.ctx, d)
	defer cancel()
	pin, err := i.pad.EnterPIN(ctx, line1, line2)
	switch {
	case err == nil:
		return pin, nil
	case errors.Is(err, ceremonies.ErrCancelled):
		return nil, part10.ErrCancelled
	case errors.Is(err, context.DeadlineExceeded) && i.ctx.Err() == nil:
		return nil, part10.ErrTimeout
	}
	return nil, err
}
