package opgpcard

import (
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// CredentialDO is the private DO that holds the user slot's sealed
// credential (read and write after PW1, reference 82: OpenPGP card v3.4,
// private use DOs).
const CredentialDO = 0x0103

// ChangePIN implements ceremonies.Card with CHANGE REFERENCE DATA.
func (c *Card) ChangePIN(s ceremonies.Slot, oldPIN, newPIN []byte) error {
	ref := openpgp.PW3
	if s == ceremonies.UserSlot {
		ref = openpgp.PW1Sign // CHANGE REFERENCE DATA names PW1 as 81
	}
	err := c.client.ChangePIN(ref, oldPIN, newPIN)
	var wrong *openpgp.WrongPINError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &wrong) && wrong.TriesLeft > 0:
		return &ceremonies.WrongPINError{TriesLeft: wrong.TriesLeft}
	case errors.Is(err, openpgp.ErrPINBlocked):
		return fmt.Errorf("card %s: %w", c.serial, ceremonies.ErrPINBlocked)
	}
	return c.wrap("change "+c.PINName(s), err)
}

// GenerateUserKey implements ceremonies.Card: an ECDH P-256 key in the
// card's decryption slot (GENERATE ASYMMETRIC KEY PAIR, CRT B8).
func (c *Card) GenerateUserKey() ([]byte, error) {
	p, err := c.client.GenerateDecryptionKey()
	if err != nil {
		return nil, c.wrap("generate the user key", err)
	}
	return p, nil
}

// UserPublicKey implements ceremonies.Card.
func (c *Card) UserPublicKey() ([]byte, error) {
	p, err := c.client.DecryptionPublicKey()
	if errors.Is(err, openpgp.ErrNotFound) {
		return nil, fmt.Errorf("card %s: no user key: %w", c.serial, ceremonies.ErrNoData)
	}
	if err != nil {
		return nil, c.wrap("read the user public key", err)
	}
	return p, nil
}

// Decipher implements ceremonies.Card with PSO:DECIPHER (ECDH).
func (c *Card) Decipher(ephemeralPoint []byte) ([]byte, error) {
	x, err := c.client.DecipherECDH(ephemeralPoint)
	if err != nil {
		return nil, c.wrap("decipher", err)
	}
	return x, nil
}

// ReadCredential implements ceremonies.Card.
func (c *Card) ReadCredential() ([]byte, error) {
	b, err := c.client.ReadPrivateDO(CredentialDO)
	if errors.Is(err, openpgp.ErrNotFound) || (err == nil && len(b) == 0) {
		return nil, fmt.Errorf("card %s: DO 0103: %w", c.serial, ceremonies.ErrNoData)
	}
	if err != nil {
		return nil, c.wrap("read DO 0103", err)
	}
	return b, nil
}

// WriteCredential implements ceremonies.Card.
func (c *Card) WriteCredential(sealed []byte) error {
	if err := c.client.WritePrivateDO(CredentialDO, sealed); err != nil {
		return c.wrap("write DO 0103", err)
	}
	return nil
}
