package usercard

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// A sealed credential, as stored in the card's user slot (OpenPGP profile:
// private DO 0103, at most 255 bytes). Version 1:
//
//	0   4   magic "CUC1"
//	4   1   length S of the slot name, then S bytes of it
//	..  65  ephemeral P-256 public point (uncompressed)
//	..  12  AES-GCM nonce
//	..  1   length C of the ciphertext, then C bytes (credential + 16-byte tag)
//
// The key is HKDF-SHA256(ECDH(ephemeral, card key), salt = the ephemeral
// point, info = "ceremony-user-credential-v1" | serial | slot); the header
// (magic to nonce) is the GCM additional data, so the slot name cannot be
// swapped. Only the card holding the private key can compute the secret.

var sealMagic = []byte("CUC1")

// ErrBadSealed is wrapped by every unsealing error that is the record's fault.
var ErrBadSealed = errors.New("not a valid sealed credential")

// MaxCredential is the longest credential a card slot can hold sealed.
const MaxCredential = 64

// Fingerprint names a card key in events: SHA-256 of its public point.
func Fingerprint(point []byte) string {
	s := sha256.Sum256(point)
	return hex.EncodeToString(s[:])
}

func deriveKey(shared, ephemeral []byte, serial, slot string) ([]byte, error) {
	return hkdf.Key(sha256.New, shared, ephemeral, "ceremony-user-credential-v1|"+serial+"|"+slot, 32)
}

// Seal encrypts credential to the card key cardPoint for serial and slot.
func Seal(rnd io.Reader, cardPoint []byte, serial, slot string, credential []byte) ([]byte, error) {
	if len(credential) == 0 || len(credential) > MaxCredential {
		return nil, fmt.Errorf("usercard: a credential is 1 to %d bytes, got %d", MaxCredential, len(credential))
	}
	if len(slot) == 0 || len(slot) > 64 {
		return nil, fmt.Errorf("usercard: slot name must be 1 to 64 bytes")
	}
	pub, err := ecdh.P256().NewPublicKey(cardPoint)
	if err != nil {
		return nil, fmt.Errorf("usercard: the card's public key is not a P-256 point: %w", err)
	}
	eph, err := ecdh.P256().GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("usercard: ephemeral key: %w", err)
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("usercard: key agreement: %w", err)
	}
	ephPoint := eph.PublicKey().Bytes()
	key, err := deriveKey(shared, ephPoint, serial, slot)
	ceremonies.Wipe(shared)
	if err != nil {
		return nil, err
	}
	defer ceremonies.Wipe(key)
	header := append(append(append([]byte(nil), sealMagic...), byte(len(slot))), slot...)
	header = append(header, ephPoint...)
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("usercard: nonce: %w", err)
	}
	header = append(header, nonce...)
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	ct := gcm.Seal(nil, nonce, credential, header)
	return append(append(header, byte(len(ct))), ct...), nil
}

// Parsed is a sealed record's public parts.
type Parsed struct {
	Slot      string
	Ephemeral []byte
	header    []byte
	nonce     []byte
	ct        []byte
}

// Parse reads a sealed record without unsealing it.
func Parse(b []byte) (*Parsed, error) {
	bad := func(what string) error { return fmt.Errorf("usercard: %w: %s", ErrBadSealed, what) }
	if len(b) < 5 || !bytes.Equal(b[:4], sealMagic) {
		return nil, bad("no sealed-credential marker")
	}
	s := int(b[4])
	off := 5 + s
	if s == 0 || len(b) < off+65+12+1 {
		return nil, bad("too short")
	}
	p := &Parsed{Slot: string(b[5:off]), Ephemeral: b[off : off+65], nonce: b[off+65 : off+77]}
	p.header = b[:off+77]
	c := int(b[off+77])
	if len(b) != off+78+c || c < 17 {
		return nil, bad("length does not match (truncated or torn write)")
	}
	p.ct = b[off+78:]
	return p, nil
}

// Unseal recovers the credential: decipher runs the key agreement on the
// card. The caller wipes the result.
func (p *Parsed) Unseal(serial string, decipher func(ephemeral []byte) ([]byte, error)) ([]byte, error) {
	shared, err := decipher(p.Ephemeral)
	if err != nil {
		return nil, err
	}
	key, err := deriveKey(shared, p.Ephemeral, serial, p.Slot)
	ceremonies.Wipe(shared)
	if err != nil {
		return nil, err
	}
	defer ceremonies.Wipe(key)
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	cred, err := gcm.Open(nil, p.nonce, p.ct, p.header)
	if err != nil {
		return nil, fmt.Errorf("usercard: %w: it was not sealed to this card's key (another card's, or damaged)", ErrBadSealed)
	}
	return cred, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("usercard: %w", err)
	}
	return cipher.NewGCM(b)
}
