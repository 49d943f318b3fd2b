package ceremonies

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// PinPad is the reader's keypad and two-line display (the manual's
// cyberJack e-com: OK, Cancel, Clear and digits).
type PinPad interface {
	// Show puts two lines on the display.
	Show(line1, line2 string)
	// Confirm waits for OK (true) or Cancel (false).
	Confirm(ctx context.Context) (bool, error)
	// EnterPIN shows the two lines and reads a PIN. Cancel returns
	// ErrCancelled. The caller wipes the returned bytes.
	EnterPIN(ctx context.Context, line1, line2 string) ([]byte, error)
}

// KeyAttributor is a PIN pad that knows which account pressed its last
// OK or Cancel or sent its last PIN (the web console's, where several
// operators share one ceremony): the events of those actions name that
// account, not the run's operator (Station.Actor).
type KeyAttributor interface {
	LastPressedBy() string
}

// CardReader is one reader slot. WaitCard blocks until a card is in and
// its application is selected.
type CardReader interface {
	Name() string
	Class() string // "host-pinpad" (PIN typed on the host's PIN pad port), "class3-pinpad"
	WaitCard(ctx context.Context) (Card, error)
	WaitRemoved(ctx context.Context) error
}

// Slot names a PIN-protected slot of a card (the manual: each slot has its
// own PIN, preset to 123456).
type Slot string

// The slots of a card.
const (
	BackupSlot Slot = "backup" // Backup Key share (OpenPGP profile: PW3 + DO 0104)
	UserSlot   Slot = "user"   // PKCS#11 user credential (OpenPGP profile: PW1)
)

// Card is one inserted card seen through its profile.
type Card interface {
	Serial() string
	// PINName names the slot's PIN as the card knows it (e.g. "PW3").
	PINName(s Slot) string
	// PINTries reads the slot's retry counter without spending a try.
	PINTries(s Slot) (int, error)
	// VerifyPIN presents the PIN: *WrongPINError, ErrPINBlocked or nil.
	VerifyPIN(s Slot, pin []byte) error
	// ReadShare returns the backup slot's stored record (after VerifyPIN);
	// ErrNoData when it is empty.
	ReadShare() ([]byte, error)
	// WriteShare replaces the backup slot's record (after VerifyPIN).
	WriteShare(record []byte) error
	// ChangePIN replaces the slot's PIN; a wrong old PIN spends a try
	// (*WrongPINError, ErrPINBlocked).
	ChangePIN(s Slot, oldPIN, newPIN []byte) error

	// The user slot: a key made on the card that never leaves it, and a
	// credential sealed to that key.

	// GenerateUserKey makes a new user key (after the backup slot's PIN,
	// the card's admin PIN) and returns its public point.
	GenerateUserKey() ([]byte, error)
	// UserPublicKey returns the user key's public point; ErrNoData if none.
	UserPublicKey() ([]byte, error)
	// Decipher runs the key agreement with an ephemeral public point on the
	// card (after the user PIN) and returns the shared secret.
	Decipher(ephemeralPoint []byte) ([]byte, error)
	// ReadCredential returns the sealed credential (after the user PIN);
	// ErrNoData when there is none.
	ReadCredential() ([]byte, error)
	// WriteCredential stores a sealed credential (after the user PIN).
	WriteCredential(sealed []byte) error
}

// ReaderPINPad is a card in a reader with its own PIN pad (PC/SC part 10
// class 3, such as the manual's cyberJack e-com): the PIN is typed on the
// reader and never reaches the host. A card in any other reader does not
// implement it, or reports false.
type ReaderPINPad interface {
	HasReaderPINPad() bool
	// VerifyPINOnReader has the reader collect the PIN and present it:
	// *WrongPINError, ErrPINBlocked, ErrCancelled (Cancel on the reader),
	// ErrReaderTimeout (nobody typed).
	VerifyPINOnReader(s Slot) error
}

// ReaderPINNotice is a PIN pad that can say that a PIN is being typed on
// the reader's own keypad (class 3) rather than on the pad: the web
// console's page then shows "enter the PIN on the reader" and no PIN
// field. OnReader shows line1 and line2 for the length of the entry; the
// step calls done when the reader has answered.
type ReaderPINNotice interface {
	OnReader(line1, line2 string) (done func())
}

// ShowReaderPIN shows a reader-keypad PIN prompt on pad: as a
// ReaderPINNotice when the pad is one, else as a plain display. The
// caller calls done when the reader has answered.
func ShowReaderPIN(pad PinPad, line1, line2 string) (done func()) {
	if n, ok := pad.(ReaderPINNotice); ok {
		return n.OnReader(line1, line2)
	}
	pad.Show(line1, line2)
	return func() {}
}

// ReaderPINChange is a card in a class-3 reader that can also change a
// PIN on its keypad (PC/SC part 10 FEATURE_MODIFY_PIN_DIRECT): the current
// PIN, the new one and its confirmation are typed on the reader and never
// reach the host.
type ReaderPINChange interface {
	HasReaderPINChange() bool
	// ChangePINOnReader has the reader collect the PINs and send CHANGE
	// REFERENCE DATA: *WrongPINError, ErrPINBlocked, ErrCancelled,
	// ErrReaderTimeout, or *PINRuleError when the reader refused the new
	// PIN before the card saw it.
	ChangePINOnReader(s Slot) error
}

// PINRuleError: a class-3 reader refused a PIN typed on its keypad before
// the card saw it; Rule says why, without the PIN.
type PINRuleError struct{ Rule string }

func (e *PINRuleError) Error() string { return "the reader refused the PIN: " + e.Rule }

// WitnessDesk takes a witness's sign-off at the station (name, role and,
// optionally, their signature) when a ceremony requires witnesses before
// it completes (Driver.RequireWitnesses).
type WitnessDesk interface {
	AskWitness(ctx context.Context, n, of int) (WitnessAnswer, error)
}

// Slots logs into the PKCS#11 slot a user card stands for. Closing the
// returned session logs out.
type Slots interface {
	Name() string
	Login(ctx context.Context, credential []byte) (io.Closer, error)
}

// HSM is the module the Backup Key is loaded into.
type HSM interface {
	Name() string
	// ImportBackupKey stores key under label and returns the KCV the HSM
	// computes (hex, 3 bytes). Importing the same key again reports
	// already=true; a different key under an existing Backup Key is refused.
	ImportBackupKey(ctx context.Context, label string, key []byte) (kcv string, already bool, err error)
}

// Errors the ports return (wrapped); adapters translate theirs to these.
var (
	ErrCancelled   = errors.New("cancelled on the PIN pad")
	ErrWrongPIN    = errors.New("wrong PIN")
	ErrPINBlocked  = errors.New("PIN blocked: no tries left")
	ErrCardRemoved = errors.New("card removed from the reader")
	ErrNoData      = errors.New("the slot holds no data")
	// ErrReaderTimeout: nobody typed the PIN on the reader's keypad in time.
	ErrReaderTimeout = errors.New("nobody typed the PIN on the reader in time")
	// ErrCardTerminated: the card's application is terminated (OpenPGP
	// card TERMINATE DF without ACTIVATE FILE: a reset that did not
	// finish); it answers nothing but its activation.
	ErrCardTerminated = errors.New("the card is terminated (a reset that did not finish): what it held is gone; finish the reset with 'ceremony card-reset'")
)

// ErrServiceGone and ErrReaderGone are ErrCardRemoved (the card must be
// presented again) with the cause: the PC/SC service (pcscd) or the
// reader went away.
var (
	ErrServiceGone error = goneError{"the smart card service (pcscd) went away"}
	ErrReaderGone  error = goneError{"the card reader went away"}
)

// goneError is a cause of ErrCardRemoved.
type goneError struct{ what string }

func (e goneError) Error() string        { return e.what }
func (e goneError) Is(target error) bool { return target == ErrCardRemoved }

// WrongPINError carries the tries the card has left.
type WrongPINError struct{ TriesLeft int }

func (e *WrongPINError) Error() string {
	return "wrong PIN, " + TriesLeft(e.TriesLeft)
}

// TriesLeft says how many PIN tries are left: "1 try left", "2 tries left".
func TriesLeft(n int) string {
	if n == 1 {
		return "1 try left"
	}
	return fmt.Sprintf("%d tries left", n)
}

func (e *WrongPINError) Unwrap() error { return ErrWrongPIN }

// Wipe overwrites secret bytes.
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
