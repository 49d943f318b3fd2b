package part10

import (
	"errors"
	"fmt"
)

// The reader's side of FEATURE_VERIFY_PIN_DIRECT and
// FEATURE_MODIFY_PIN_DIRECT, for an emulated class-3 reader: once its
// keypad has collected the PIN, the reader builds the command APDU from the
// structure's template and format fields (PC/SC part 10; field meanings as
// in pcsc-lite's reader.h and OpenSC's reader-pcsc.c) and sends it to the
// card. Unlike the rest of the package these functions see the PIN: they
// run on the reader's side, never on the host's. The caller wipes what they
// return.
//
// What is supported (anything else is ErrBadStructure, the reader's 6B 80):
//   - positions and sizes in bytes (bmFormatString b7 = 1);
//   - binary, BCD and ASCII digits, left- or right-justified in a block;
//   - no PIN length field (bmPINBlockString b7–4 = 0);
//   - a fixed block (bmPINBlockString b3–0 > 0) that the template holds,
//     or variable length (block size 0): the PIN is inserted at its
//     position and Lc is set to the new data length, as "adaptive" readers
//     do for GnuPG's structures (a template without Lc gains one);
//   - for MODIFY, the current PIN at position + bInsertionOffsetOld and the
//     new PIN at position + bInsertionOffsetNew in a fixed block; with
//     variable length the current PIN, then the new PIN, at the position.

// Limits returns the PIN length bounds of wPINMaxExtraDigit (0xMMmm).
func (s VerifyStructure) Limits() (minLen, maxLen int) { return limits(s.PINMaxExtraDigit) }

// Limits returns the PIN length bounds of wPINMaxExtraDigit (0xMMmm).
func (s ModifyStructure) Limits() (minLen, maxLen int) { return limits(s.PINMaxExtraDigit) }

func limits(w uint16) (int, int) { return int(w >> 8), int(w & 0xFF) }

// AsksCurrentPIN reports whether the keypad asks for the current PIN
// (bConfirmPIN b1).
func (s ModifyStructure) AsksCurrentPIN() bool { return s.ConfirmPIN&ConfirmCurrentPIN != 0 }

// AsksConfirmation reports whether the keypad asks for the new PIN twice
// (bConfirmPIN b0).
func (s ModifyStructure) AsksConfirmation() bool { return s.ConfirmPIN&ConfirmNewPIN != 0 }

// APDU returns the VERIFY (or other) command with pin inserted.
// ErrPINLength: the PIN is outside wPINMaxExtraDigit or does not fit its
// block; ErrBadStructure: the structure asks for something this reader
// does not do (see above) or its template is inconsistent.
func (s VerifyStructure) APDU(pin []byte) ([]byte, error) {
	f, err := newFiller(s.FormatString, s.PINBlockString, s.PINMaxExtraDigit, s.Data)
	if err != nil {
		return nil, err
	}
	if err := f.put(0, pin); err != nil {
		return nil, err
	}
	return f.apdu()
}

// APDU returns the CHANGE REFERENCE DATA (or other) command with the
// current PIN (nil when AsksCurrentPIN is false) and the new PIN
// inserted. The caller has compared the new PIN with its confirmation
// (ErrPINsDiffer). Errors as for VerifyStructure.APDU.
func (s ModifyStructure) APDU(currentPIN, newPIN []byte) ([]byte, error) {
	f, err := newFiller(s.FormatString, s.PINBlockString, s.PINMaxExtraDigit, s.Data)
	if err != nil {
		return nil, err
	}
	if s.AsksCurrentPIN() {
		if err := f.put(int(s.InsertionOffsetOld), currentPIN); err != nil {
			return nil, err
		}
	}
	if err := f.put(int(s.InsertionOffsetNew), newPIN); err != nil {
		return nil, err
	}
	return f.apdu()
}

// ReaderStatus is the SW1 SW2 a reader answers instead of the card's for
// an error of APDU or of its keypad (ErrTimeout, ErrCancelled,
// ErrPINsDiffer, ErrPINLength, ErrBadStructure), and ok false for any
// other error.
func ReaderStatus(err error) (sw []byte, ok bool) {
	for _, c := range []struct {
		err error
		sw  []byte
	}{
		{ErrTimeout, []byte{0x64, 0x00}},
		{ErrCancelled, []byte{0x64, 0x01}},
		{ErrPINsDiffer, []byte{0x64, 0x02}},
		{ErrPINLength, []byte{0x64, 0x03}},
		{ErrBadStructure, []byte{0x6B, 0x80}},
	} {
		if errors.Is(err, c.err) {
			return c.sw, true
		}
	}
	return nil, false
}

// filler inserts PINs into an APDU template.
type filler struct {
	format         byte
	pos            int // PIN position after Lc, bytes
	block          int // block size in bytes, 0 = variable length
	minLen, maxLen int
	head           []byte // CLA INS P1 P2
	body           []byte // the data field
	le             []byte // a trailing Le, if any
	varInserted    int    // bytes inserted so far at pos (variable length)
}

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadStructure}, a...)...)
}

func newFiller(formatString, blockString byte, maxExtra uint16, data []byte) (*filler, error) {
	if formatString&FormatUnitsBytes == 0 {
		return nil, bad("bmFormatString %02X gives positions in bits; this reader supports bytes only", formatString)
	}
	if formatString&0x03 == 0x03 {
		return nil, bad("bmFormatString %02X: PIN format 11 is reserved", formatString)
	}
	if blockString>>4 != 0 {
		return nil, bad("bmPINBlockString %02X asks for a PIN length field; this reader supports none", blockString)
	}
	if len(data) < MinAPDULen {
		return nil, bad("the APDU template is %d bytes, need CLA INS P1 P2", len(data))
	}
	f := &filler{
		format: formatString & 0x07,
		pos:    int(formatString>>formatPositionShift) & 0x0F,
		block:  int(blockString & 0x0F),
		head:   append([]byte(nil), data[:4]...),
	}
	f.minLen, f.maxLen = limits(maxExtra)
	if f.minLen > f.maxLen {
		return nil, bad("wPINMaxExtraDigit %04X: minimum %d above maximum %d", maxExtra, f.minLen, f.maxLen)
	}
	if len(data) > 4 {
		lc := int(data[4])
		switch {
		case 5+lc == len(data):
		case 5+lc+1 == len(data):
			f.le = []byte{data[5+lc]}
		default:
			return nil, bad("the APDU template's Lc %d does not match its %d data bytes", lc, len(data)-5)
		}
		f.body = append([]byte(nil), data[5:5+lc]...)
	}
	if f.block > 0 && f.pos+f.block > len(f.body) {
		return nil, bad("the %d-byte PIN block at position %d does not fit the template's %d data bytes", f.block, f.pos, len(f.body))
	}
	return f, nil
}

// encode turns the typed digits into the block's format.
func (f *filler) encode(pin []byte) ([]byte, error) {
	if len(pin) < f.minLen || len(pin) > f.maxLen {
		return nil, fmt.Errorf("%w: %d digits, the structure allows %d to %d", ErrPINLength, len(pin), f.minLen, f.maxLen)
	}
	for _, c := range pin {
		if c < '0' || c > '9' {
			return nil, bad("the keypad sent a key that is not a digit")
		}
	}
	switch f.format & 0x03 {
	case FormatBitsASCII:
		return append([]byte(nil), pin...), nil
	case FormatBitsBinary:
		out := make([]byte, len(pin))
		for i, c := range pin {
			out[i] = c - '0'
		}
		return out, nil
	}
	out := make([]byte, (len(pin)+1)/2) // BCD, an odd count padded with F
	for i := range out {
		hi := pin[2*i] - '0'
		lo := byte(0x0F)
		if 2*i+1 < len(pin) {
			lo = pin[2*i+1] - '0'
		}
		out[i] = hi<<4 | lo
	}
	return out, nil
}

// put inserts pin at the position plus offset (a fixed block), or after
// what was inserted before (variable length).
func (f *filler) put(offset int, pin []byte) error {
	enc, err := f.encode(pin)
	if err != nil {
		return err
	}
	defer clear(enc)
	if f.block == 0 {
		at := f.pos + f.varInserted
		if f.pos > len(f.body) {
			return bad("PIN position %d is past the template's %d data bytes", f.pos, len(f.body))
		}
		body := make([]byte, 0, len(f.body)+len(enc))
		body = append(body, f.body[:at]...)
		body = append(body, enc...)
		body = append(body, f.body[at:]...)
		clear(f.body)
		f.body = body
		f.varInserted += len(enc)
		return nil
	}
	if len(enc) > f.block {
		return fmt.Errorf("%w: %d digits do not fit the %d-byte block", ErrPINLength, len(pin), f.block)
	}
	start := f.pos + offset
	if start+f.block > len(f.body) {
		return bad("the PIN block at offset %d does not fit the template's %d data bytes", start, len(f.body))
	}
	if f.format&FormatRightJustify != 0 {
		start += f.block - len(enc)
	}
	copy(f.body[start:], enc)
	return nil
}

// apdu assembles the command.
func (f *filler) apdu() ([]byte, error) {
	if len(f.body) > 255 {
		return nil, bad("the command data would be %d bytes, more than a short APDU", len(f.body))
	}
	out := append([]byte(nil), f.head...)
	if len(f.body) > 0 {
		out = append(out, byte(len(f.body)))
		out = append(out, f.body...)
	}
	out = append(out, f.le...)
	clear(f.body)
	return out, nil
}
