package pcsc

import (
	"errors"
	"fmt"

	"github.com/ebfe/scard"
)

// Domain errors; every error of this package wraps one of them or a
// *Error with the raw code.
var (
	ErrNoService  = errors.New("the PC/SC service (pcscd) is not running or went away: start it, the ceremony waits")
	ErrReaderGone = errors.New("the reader is gone: plug it in again")
	ErrNoCard     = errors.New("no card in the reader (removed?)")
	ErrSharing    = errors.New("another program holds the card exclusively: close it")
	ErrTimeout    = errors.New("timed out waiting for the reader")
	ErrCancelled  = errors.New("cancelled")
)

// Error is a PC/SC failure with the operation, the reader and the code.
type Error struct {
	Op     string
	Reader string
	Code   scard.Error
	Err    error // the domain sentinel, or nil
}

func (e *Error) Error() string {
	what := e.Op
	if e.Reader != "" {
		what = fmt.Sprintf("%s on reader %q", e.Op, e.Reader)
	}
	if e.Err != nil {
		return fmt.Sprintf("pcsc: %s: %v (%#08x)", what, e.Err, uint32(e.Code))
	}
	return fmt.Sprintf("pcsc: %s: %v (%#08x)", what, e.Code.Error(), uint32(e.Code))
}

func (e *Error) Unwrap() error { return e.Err }

// classify maps a PC/SC code to a domain sentinel.
func classify(code scard.Error) error {
	switch code {
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrInvalidHandle, scard.ErrCommError:
		return ErrNoService
	case scard.ErrReaderUnavailable, scard.ErrUnknownReader, scard.ErrNoReadersAvailable:
		return ErrReaderGone
	case scard.ErrNoSmartcard, scard.ErrRemovedCard, scard.ErrResetCard, scard.ErrUnpoweredCard, scard.ErrUnresponsiveCard:
		return ErrNoCard
	case scard.ErrSharingViolation:
		return ErrSharing
	case scard.ErrTimeout:
		return ErrTimeout
	case scard.ErrCancelled:
		return ErrCancelled
	}
	return nil
}

// wrap turns an scard error into an *Error; other errors pass through.
func wrap(op, reader string, err error) error {
	if err == nil {
		return nil
	}
	var code scard.Error
	if errors.As(err, &code) {
		return &Error{Op: op, Reader: reader, Code: code, Err: classify(code)}
	}
	return fmt.Errorf("pcsc: %s on reader %q: %w", op, reader, err)
}
