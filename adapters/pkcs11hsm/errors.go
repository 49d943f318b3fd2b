package pkcs11hsm

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// Errors this package returns, wrapped with what failed and what to do.
// Test them with errors.Is. The PKCS#11 return value (a pkcs11.Error such
// as pkcs11.Error(pkcs11.CKR_PIN_INCORRECT)) stays in the chain too.
var (
	// ErrModule: the PKCS#11 module cannot be loaded or initialised.
	ErrModule = errors.New("PKCS#11 module not usable")
	// ErrTokenNotFound: no token matches the configuration, or it was removed.
	ErrTokenNotFound = errors.New("token not found")
	// ErrAmbiguousToken: more than one token matches the configuration.
	ErrAmbiguousToken = errors.New("more than one token matches")
	// ErrTokenInUse: the token is already open in this process.
	ErrTokenInUse = errors.New("token already open in this process")
	// ErrWrongPIN: C_Login said CKR_PIN_INCORRECT. It wraps ceremonies.ErrWrongPIN.
	ErrWrongPIN error = &portError{"wrong token PIN", ceremonies.ErrWrongPIN}
	// ErrPINLocked: the token's user PIN is locked. It wraps ceremonies.ErrPINBlocked.
	ErrPINLocked error = &portError{"token PIN locked", ceremonies.ErrPINBlocked}
	// ErrPINLength: the PIN is shorter or longer than the token accepts.
	ErrPINLength = errors.New("token PIN has a length the token does not accept")
	// ErrPINSource: the PIN source is misconfigured or unreadable.
	ErrPINSource = errors.New("PIN source not usable")
	// ErrNotLoggedIn: the session lost its login (token reset or re-inserted).
	ErrNotLoggedIn = errors.New("not logged in to the token")
	// ErrDevice: the token reported a device or memory failure.
	ErrDevice = errors.New("token device error")
	// ErrURI: the PKCS#11 URI is malformed or asks for something refused.
	ErrURI = errors.New("bad PKCS#11 URI")
	// ErrConfig: the Config is incomplete or contradicts itself.
	ErrConfig = errors.New("bad PKCS#11 configuration")
	// ErrKeyLength: a Backup Key is 32 bytes (AES-256).
	ErrKeyLength = errors.New("a Backup Key is 32 bytes (AES-256)")
	// ErrDifferentKey: the token already holds another Backup Key.
	ErrDifferentKey = errors.New("the token holds a different Backup Key")
	// ErrTwoKeys: the token holds more than one Backup Key.
	ErrTwoKeys = errors.New("the token holds more than one Backup Key")
	// ErrKeyMismatch: the token's check value disagrees with the key given.
	ErrKeyMismatch = errors.New("the token's check value does not match the key")
	// ErrNoBackupKey: the token holds no Backup Key to wrap or unwrap under.
	ErrNoBackupKey = errors.New("the token holds no Backup Key")
	// ErrKeyNotFound: no token key matches the KeyInfo given.
	ErrKeyNotFound = errors.New("key not found on the token")
	// ErrKeyNotUnique: more than one token key matches the KeyInfo given.
	ErrKeyNotUnique = errors.New("more than one key on the token matches")
	// ErrKeyExists: a restore would create a key whose class and CKA_ID
	// are already on the token.
	ErrKeyExists = errors.New("a key with this class and CKA_ID is already on the token")
	// ErrUnwrap: a wrapped key does not unwrap under the token's Backup
	// Key: the backup was made under another Backup Key or is damaged.
	ErrUnwrap = errors.New("the key cannot be unwrapped: the backup was made under another Backup Key or is damaged")
	// ErrKeyInfo: a KeyInfo names a class or type that is not backed up,
	// or lacks what a restore needs.
	ErrKeyInfo = errors.New("bad key description")
	// ErrClosed: the HSM was used after Close.
	ErrClosed = errors.New("HSM closed")
)

// portError is a sentinel of this package that is also one of the
// ceremonies port's errors, without repeating its text.
type portError struct {
	msg  string
	port error
}

func (e *portError) Error() string { return e.msg }
func (e *portError) Unwrap() error { return e.port }

// translate turns a PKCS#11 error from op into a domain error saying what
// to do. Errors that are not pkcs11.Error, and
// return values without advice, are wrapped unchanged.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var domain error
	var advice string
	switch rv {
	case pkcs11.CKR_PIN_INCORRECT:
		domain, advice = ErrWrongPIN, "the token counts failed logins; check the PIN source before trying again"
	case pkcs11.CKR_PIN_LOCKED:
		domain, advice = ErrPINLocked, "the user PIN must be unblocked with the token's SO PIN (softhsm2-util: re-initialise the PIN with --so-pin)"
	case pkcs11.CKR_PIN_LEN_RANGE:
		domain, advice = ErrPINLength, "check the PIN source holds the PIN only (one line, no extra characters)"
	case pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_SLOT_ID_INVALID:
		domain, advice = ErrTokenNotFound, "the token is gone: insert it again, then close and open the HSM"
	case pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_SESSION_HANDLE_INVALID:
		domain, advice = ErrNotLoggedIn, "the session lost its login (token reset, removed or logged out elsewhere): close and open the HSM again"
	case pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_MEMORY, pkcs11.CKR_GENERAL_ERROR:
		domain, advice = ErrDevice, "check the HSM and its connection, then close and open the HSM again; nothing further was done"
	case pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		domain, advice = ErrModule, "the module was finalised under this HSM: open it again"
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %s (%w)", op, domain, advice, err)
}

// isRV reports whether err is the PKCS#11 return value rv.
func isRV(err error, rv uint) bool {
	return errors.Is(err, pkcs11.Error(rv))
}
