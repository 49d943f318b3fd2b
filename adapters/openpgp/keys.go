package openpgp

import (
	"bytes"
	"fmt"
)

// KeySlot names one of the card's three keys by the tag of its control
// reference template (CRT), the data of GENERATE ASYMMETRIC KEY PAIR
// (OpenPGP card v3.4 §7.2.14).
type KeySlot byte

// The key slots (v3.4 §7.2.14).
const (
	SignatureKey      KeySlot = 0xB6 // PSO:COMPUTE DIGITAL SIGNATURE
	DecryptionKey     KeySlot = 0xB8 // PSO:DECIPHER
	AuthenticationKey KeySlot = 0xA4 // INTERNAL AUTHENTICATE
)

// String names the slot as in operation names ("B8 (decryption key)").
func (k KeySlot) String() string {
	switch k {
	case SignatureKey:
		return "B6 (signature key)"
	case DecryptionKey:
		return "B8 (decryption key)"
	case AuthenticationKey:
		return "A4 (authentication key)"
	default:
		return fmt.Sprintf("key slot %02X", byte(k))
	}
}

func (k KeySlot) valid() bool {
	return k == SignatureKey || k == DecryptionKey || k == AuthenticationKey
}

// P1 of GENERATE ASYMMETRIC KEY PAIR (v3.4 §7.2.14) and P1 P2 of
// PSO:DECIPHER (§7.2.11).
const (
	generateNew     = 0x80   // generate a key pair (needs PW3)
	readPublicKey   = 0x81   // read the public key of an existing key (always allowed)
	psoDecipherP1   = 0x80   // PSO:DECIPHER: plain value out
	psoDecipherP2   = 0x86   // PSO:DECIPHER: enciphered value in
	tagCipherDO     = 0xA6   // cipher DO around the public key in PSO:DECIPHER (ECDH)
	tagPublicKeyDO  = 0x7F49 // public key template
	tagECPoint      = 0x86   // EC point (for P-256: 04 || X || Y)
	tagRSAModulus   = 0x81   // RSA modulus: a key this package does not decode
	tagRSAPublicExp = 0x82   // RSA public exponent
)

// EncodeGenerateKey encodes GENERATE ASYMMETRIC KEY PAIR (v3.4 §7.2.14)
// with P1=80: generate a new key pair in crt, replacing the old one, e.g.
// 00 47 80 00 02 B8 00 00. Le=00 asks for the public key, which the card
// answers. The card requires PW3 verified.
func EncodeGenerateKey(crt KeySlot) ([]byte, error) {
	return encodeKeyPair("GENERATE ASYMMETRIC KEY PAIR", generateNew, crt)
}

// EncodeReadPublicKey encodes GENERATE ASYMMETRIC KEY PAIR (v3.4 §7.2.14)
// with P1=81: read the public key of the existing key in crt, e.g.
// 00 47 81 00 02 B8 00 00. Always allowed; a card with no key in crt
// answers 6A88.
func EncodeReadPublicKey(crt KeySlot) ([]byte, error) {
	return encodeKeyPair("READ PUBLIC KEY", readPublicKey, crt)
}

func encodeKeyPair(op string, p1 byte, crt KeySlot) ([]byte, error) {
	if !crt.valid() {
		return nil, fmt.Errorf("openpgp: %s: %w: %s is not B6, B8 or A4", op, ErrInvalidArgument, crt)
	}
	return []byte{0x00, insGenerateKey, p1, 0x00, 0x02, byte(crt), 0x00, 0x00}, nil
}

// EncodePSODecipherECDH encodes PSO:DECIPHER with an ECDH public key (v3.4
// §7.2.11): 00 2A 80 86 Lc A6 L1 { 7F49 L2 { 86 L3 point } } 00, each
// length in its minimal BER form (81 xx above 127). point is the other
// party's (ephemeral) public key as the card's curve encodes it; for P-256
// the 65-byte uncompressed 04 || X || Y. An empty point is refused
// (ErrInvalidArgument), and so is one that makes the data longer than 255
// bytes (ErrDataTooLong; a 245-byte point is the longest that fits). The
// card requires PW1 verified with reference 82.
func EncodePSODecipherECDH(point []byte) ([]byte, error) {
	const op = "PSO:DECIPHER (ECDH)"
	if len(point) == 0 {
		return nil, fmt.Errorf("openpgp: %s: %w: empty public key point", op, ErrInvalidArgument)
	}
	inner := tlvLen(tagECPoint, len(point))
	template := tlvLen(tagPublicKeyDO, inner)
	total := tlvLen(tagCipherDO, template)
	if total > maxShortData {
		return nil, fmt.Errorf("openpgp: %s: %w: a point of %d bytes makes %d bytes of data, the maximum is %d",
			op, ErrDataTooLong, len(point), total, maxShortData)
	}
	data := AppendTLV(make([]byte, 0, inner), tagECPoint, point)
	data = AppendTLV(make([]byte, 0, template), tagPublicKeyDO, data)
	data = AppendTLV(make([]byte, 0, total), tagCipherDO, data)
	cmd, err := encodeWithData(op, []byte{0x00, insPSO, psoDecipherP1, psoDecipherP2}, data)
	if err != nil {
		return nil, err
	}
	return append(cmd, 0x00), nil
}

// ParseECPublicKey decodes the answer to GENERATE ASYMMETRIC KEY PAIR or
// READ PUBLIC KEY for an elliptic curve key (v3.4 §7.2.14): exactly
// 7F49 L { 86 L point } with minimal BER lengths and nothing else, returning
// a copy of the point (for P-256, 04 || X || Y; it is not checked against a
// curve). Anything else, including an RSA key (81, 82), is an error
// wrapping ErrMalformedResponse.
func ParseECPublicKey(resp []byte) ([]byte, error) {
	bad := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: public key template (7F49): %s", ErrMalformedResponse, fmt.Sprintf(format, args...))
	}
	template, err := onlyTLV(resp, tagPublicKeyDO)
	if err != nil {
		return bad("%v", err)
	}
	tag, point, rest, err := readTLV(template)
	switch {
	case err != nil:
		return bad("%v", err)
	case tag == tagRSAModulus || tag == tagRSAPublicExp:
		return bad("holds an RSA key (tag %s), not an EC point (86)", tagName(tag))
	case tag != tagECPoint:
		return bad("holds tag %s, want the EC point 86", tagName(tag))
	case len(rest) != 0:
		return bad("%d bytes after the EC point", len(rest))
	case len(point) == 0:
		return bad("the EC point is empty")
	}
	return bytes.Clone(point), nil
}

// sharedSecretX is the X coordinate from the answer to PSO:DECIPHER with
// ECDH (v3.4 §7.2.11). Cards answer X alone; some answer the whole point
// 04 || X || Y (an odd length starting 04: X alone is even for every
// curve), whose X is taken. An empty answer, or 04 alone, is an error
// wrapping ErrMalformedResponse. The result aliases resp.
func sharedSecretX(resp []byte) ([]byte, error) {
	switch {
	case len(resp) == 0:
		return nil, fmt.Errorf("%w: no shared secret in the answer", ErrMalformedResponse)
	case len(resp)%2 == 1 && resp[0] == 0x04:
		if len(resp) == 1 {
			return nil, fmt.Errorf("%w: the shared point is only the 04 prefix", ErrMalformedResponse)
		}
		return resp[1 : 1+(len(resp)-1)/2], nil
	}
	return resp, nil
}
