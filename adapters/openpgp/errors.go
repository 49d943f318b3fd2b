package openpgp

import (
	"errors"
	"fmt"
)

// SWSuccess is the status word of a command that completed normally.
const SWSuccess uint16 = 0x9000

// Sentinel errors. A status word from the card is returned as a *CardError
// that unwraps to one of these; test with errors.Is.
var (
	ErrWrongPIN               = errors.New("wrong PIN")                           // 63Cx (also matched by *WrongPINError)
	ErrSecurityStatus         = errors.New("security status not satisfied")       // 6982
	ErrPINBlocked             = errors.New("PIN blocked")                         // 6983, and 63C0
	ErrNotFound               = errors.New("file or data object not found")       // 6A82, 6A88
	ErrWrongLength            = errors.New("wrong length")                        // 6700
	ErrBadData                = errors.New("incorrect data in the command")       // 6A80
	ErrMemoryFailure          = errors.New("card memory failure")                 // 6581
	ErrTerminated             = errors.New("OpenPGP application terminated")      // 6285
	ErrConditionsNotSatisfied = errors.New("conditions of use not satisfied")     // 6985
	ErrUnsupported            = errors.New("command or parameters not supported") // 6D00, 6E00, 6B00
	ErrMalformedResponse      = errors.New("malformed response from the card")    // decoding failed
	ErrDataTooLong            = errors.New("data too long for a short APDU")      // refused before sending
	ErrInvalidArgument        = errors.New("invalid argument")                    // refused before sending
)

// statusInfo is what a status word means here (the status bytes listed in
// OpenPGP card v3.4 chapter 7, from ISO 7816-4) and, where it is obvious,
// what the caller should do about it.
type statusInfo struct {
	err  error
	hint string
}

var statusTable = map[uint16]statusInfo{
	0x6285: {ErrTerminated, "the OpenPGP application must be reactivated (factory reset) before use"},
	0x6581: {ErrMemoryFailure, "the write may be incomplete; read the data back, and stop using this card if it happens again"},
	0x6700: {ErrWrongLength, ""},
	0x6982: {ErrSecurityStatus, "verify the required PIN first"},
	0x6983: {ErrPINBlocked, "the PIN is blocked; the card cannot be used for this slot until it is reset"},
	0x6985: {ErrConditionsNotSatisfied, ""},
	0x6A80: {ErrBadData, ""},
	0x6A82: {ErrNotFound, ""},
	0x6A88: {ErrNotFound, ""},
	0x6B00: {ErrUnsupported, "wrong P1/P2 for this card"},
	0x6D00: {ErrUnsupported, "instruction not supported; is this an OpenPGP card and is the application selected?"},
	0x6E00: {ErrUnsupported, "class not supported"},
}

// CardError is a status word from the card that has a meaning here. It
// unwraps to one of the Err* sentinels, or to a *WrongPINError for 63Cx.
type CardError struct {
	Op  string // the operation, e.g. "VERIFY PW3" or "GET DATA 0104"
	SW  uint16 // the status word
	Err error  // a sentinel or a *WrongPINError
}

func (e *CardError) Error() string {
	msg := fmt.Sprintf("openpgp: %s: card answered SW %04X: %v", e.Op, e.SW, e.Err)
	if info, ok := statusTable[e.SW]; ok && info.hint != "" {
		msg += ": " + info.hint
	}
	return msg
}

func (e *CardError) Unwrap() error { return e.Err }

// WrongPINError is a wrong PIN (SW 63Cx, OpenPGP card v3.4 §7.2.2 VERIFY):
// the card spent one try and has TriesLeft left. errors.Is(err, ErrWrongPIN)
// is true; when TriesLeft is 0, errors.Is(err, ErrPINBlocked) is true as
// well. Ref is 0 when the reference is not known (StatusError).
type WrongPINError struct {
	Ref       PINRef
	TriesLeft int
}

func (e *WrongPINError) Error() string {
	what := "wrong PIN"
	if e.Ref != 0 {
		what = "wrong PIN for " + e.Ref.String()
	}
	switch e.TriesLeft {
	case 0:
		return what + ": no tries left, the PIN is now blocked; the card cannot be used for this slot until it is reset"
	case 1:
		return what + ": 1 try left"
	default:
		if e.TriesLeft == 1 {
			return what + ": 1 try left"
		}
		return fmt.Sprintf("%s: %d tries left", what, e.TriesLeft)
	}
}

// Is reports ErrWrongPIN, and ErrPINBlocked once no try is left.
func (e *WrongPINError) Is(target error) bool {
	return target == ErrWrongPIN || (target == ErrPINBlocked && e.TriesLeft == 0)
}

// SWError is a status word with no meaning here.
type SWError struct {
	SW uint16
	Op string
}

func (e *SWError) Error() string {
	return fmt.Sprintf("openpgp: %s: card answered unexpected SW %04X", e.Op, e.SW)
}

// StatusError maps the status word sw of the operation op to an error: nil
// for 9000, a *CardError for the status words listed on the sentinels (63Cx
// gives a *CardError wrapping a *WrongPINError), and a *SWError otherwise.
// 61xx and 6Cxx are not errors to a Client (it handles them), but
// StatusError, seeing them alone, returns a *SWError.
func StatusError(sw uint16, op string) error {
	return statusError(sw, op, 0)
}

// statusError is StatusError knowing the PIN reference for 63Cx.
func statusError(sw uint16, op string, ref PINRef) error {
	if sw == SWSuccess {
		return nil
	}
	if sw&0xFFF0 == 0x63C0 {
		return &CardError{Op: op, SW: sw, Err: &WrongPINError{Ref: ref, TriesLeft: int(sw & 0x000F)}}
	}
	if info, ok := statusTable[sw]; ok {
		return &CardError{Op: op, SW: sw, Err: info.err}
	}
	return &SWError{SW: sw, Op: op}
}
