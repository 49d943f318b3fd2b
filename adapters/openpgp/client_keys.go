package openpgp

import (
	"fmt"
)

// GenerateDecryptionKey generates a new decryption key pair on the card,
// replacing the old key (OpenPGP card v3.4 §7.2.14, GENERATE ASYMMETRIC KEY
// PAIR with CRT B8), and returns its public point as the card's algorithm
// attributes (DO C2) say: for ECDH on P-256, the 65-byte 04 || X || Y. It
// needs PW3 verified (else ErrSecurityStatus). The private key never leaves
// the card; everything encrypted to the old key can no longer be
// deciphered. The answer must be an EC public key (ParseECPublicKey).
func (c *Client) GenerateDecryptionKey() (point []byte, err error) {
	cmd, err := EncodeGenerateKey(DecryptionKey)
	if err != nil {
		return nil, err
	}
	return c.publicKey("GENERATE ASYMMETRIC KEY PAIR "+DecryptionKey.String(), cmd)
}

// DecryptionPublicKey reads the public point of the existing decryption key
// (v3.4 §7.2.14 with P1=81, CRT B8) without any PIN. A card with no
// decryption key gives ErrNotFound.
func (c *Client) DecryptionPublicKey() (point []byte, err error) {
	cmd, err := EncodeReadPublicKey(DecryptionKey)
	if err != nil {
		return nil, err
	}
	return c.publicKey("READ PUBLIC KEY "+DecryptionKey.String(), cmd)
}

func (c *Client) publicKey(op string, cmd []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := c.run(op, cmd, 0)
	if err != nil {
		return nil, err
	}
	point, err := ParseECPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("openpgp: %s: %w", op, err)
	}
	return point, nil
}

// DecipherECDH has the card compute the ECDH shared secret of its
// decryption key and ephemeralPoint, the other party's public point in the
// card's encoding (for P-256, 04 || X || Y), and returns the shared X
// coordinate (PSO:DECIPHER, v3.4 §7.2.11; a card answering the whole point
// 04 || X || Y gives its X). It needs PW1 verified with reference 82
// (PW1Sign or PW3 alone give ErrSecurityStatus). A point the card refuses
// (not on its curve, wrong length) gives ErrBadData, a card with no
// decryption key ErrNotFound. sharedX is secret: clear it after use; errors
// never contain it.
func (c *Client) DecipherECDH(ephemeralPoint []byte) (sharedX []byte, err error) {
	const op = "PSO:DECIPHER (ECDH)"
	cmd, err := EncodePSODecipherECDH(ephemeralPoint)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := c.run(op, cmd, 0)
	if err != nil {
		return nil, err
	}
	x, err := sharedSecretX(data)
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("openpgp: %s: %w", op, err)
	}
	if len(x) != len(data) {
		x = append([]byte(nil), x...)
		clear(data)
	}
	return x, nil
}
