package part10

import (
	"errors"
	"fmt"
)

// Answers a pinpad reader gives instead of passing the command to the card
// (OpenSC reader-pcsc.c; CCID scardcontrol.c; ACS manuals). Which reader
// produces which varies: the CCID driver only 6400 and 6401.
var (
	ErrTimeout      = errors.New("part10: PIN entry timed out")                         // 64 00
	ErrCancelled    = errors.New("part10: PIN entry cancelled on the keypad")           // 64 01
	ErrPINsDiffer   = errors.New("part10: the two new PINs differ")                     // 64 02
	ErrPINLength    = errors.New("part10: PIN length out of range")                     // 64 03
	ErrBadStructure = errors.New("part10: reader refused a parameter of the structure") // 6B 80
)

// CardStatus is a status word that is neither 9000 nor one of the reader's
// own answers: the card's answer to the VERIFY or CHANGE REFERENCE DATA
// (63Cx, 6983, …), for the caller to map.
type CardStatus struct {
	SW uint16
}

func (c *CardStatus) Error() string {
	return fmt.Sprintf("part10: card status %04X", c.SW)
}

// ResponseError maps the output of a PIN_VERIFY_DIRECT or
// PIN_MODIFY_DIRECT IOCTL. It must be exactly SW1 SW2; any other length is
// an ErrMalformed error. 9000 gives nil; 6400, 6401, 6402, 6403 and 6B80
// give ErrTimeout, ErrCancelled, ErrPINsDiffer, ErrPINLength and
// ErrBadStructure wrapped with the SW in hex; any other SW gives a
// *CardStatus.
func ResponseError(sw []byte) error {
	if len(sw) != 2 {
		return fmt.Errorf("%w: pinpad response is %d bytes, want exactly 2 (SW1 SW2)", ErrMalformed, len(sw))
	}
	w := uint16(sw[0])<<8 | uint16(sw[1])
	var base error
	switch w {
	case 0x9000:
		return nil
	case 0x6400:
		base = ErrTimeout
	case 0x6401:
		base = ErrCancelled
	case 0x6402:
		base = ErrPINsDiffer
	case 0x6403:
		base = ErrPINLength
	case 0x6B80:
		base = ErrBadStructure
	default:
		return &CardStatus{SW: w}
	}
	return fmt.Errorf("%w (SW %04X)", base, w)
}
