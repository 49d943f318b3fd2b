package cardemu

import (
	"crypto/ecdh"
	"crypto/rand"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// The card's one key: the decryption key (control reference template B8),
// ECDH on NIST P-256, generated on the card (OpenPGP card v3.4 §7.2.14) and
// used only by PSO:DECIPHER (§7.2.11). Its private scalar is in the image
// and never leaves the card through an APDU: GENERATE and READ PUBLIC KEY
// answer the public point, PSO:DECIPHER the shared secret. The signature
// (B6) and authentication (A4) keys do not exist and cannot be generated.

// Control reference templates naming a key (v3.4 §7.2.14).
const (
	crtSignature      = 0xB6
	crtDecryption     = 0xB8
	crtAuthentication = 0xA4
)

// keyRefOf is the key reference each template may carry in its optional
// 84 01 xx (the form GoKey accepts): 01 signature, 02 decryption, 03
// authentication.
var keyRefOf = map[byte]byte{crtSignature: 0x01, crtDecryption: 0x02, crtAuthentication: 0x03}

// Data object tags of public keys and ECDH data (v3.4 §7.2.11, §7.2.14).
const (
	tagCipher          = 0xA6   // cipher DO around the public key in PSO:DECIPHER
	tagPublicKey       = 0x7F49 // public key template
	tagExternalECPoint = 0x86   // EC point, uncompressed 04 || X || Y for P-256
)

// parseCRT decodes the data of GENERATE ASYMMETRIC KEY PAIR: exactly one
// template B6, B8 or A4, empty or holding 84 01 xx with the matching key
// reference. ok is false for anything else.
func parseCRT(data []byte) (crt byte, ok bool) {
	if len(data) < 2 {
		return 0, false
	}
	ref, known := keyRefOf[data[0]]
	if !known {
		return 0, false
	}
	tag, value, ok := onlyTLV(data)
	if !ok || tag != uint16(data[0]) {
		return 0, false
	}
	if len(value) != 0 && (len(value) != 3 || value[0] != 0x84 || value[1] != 0x01 || value[2] != ref) {
		return 0, false
	}
	return data[0], true
}

// generate answers GENERATE ASYMMETRIC KEY PAIR (v3.4 §7.2.14). P1=81 reads
// a public key and is always allowed: the decryption key's point when it
// exists, else 6A88. P1=80 needs PW3 verified and generates: only the
// decryption key (B8) can be generated, a new P-256 key replacing any old
// one; it is persisted before the card answers with its public point.
func (c *Card) generate(cmd command) response {
	if cmd.p2 != 0x00 || (cmd.p1 != 0x80 && cmd.p1 != 0x81) {
		return status(swWrongP1P2)
	}
	crt, ok := parseCRT(cmd.data)
	switch {
	case !ok:
		return status(swBadData)
	case cmd.p1 == 0x81:
		if crt != crtDecryption || c.st.decKey == nil {
			return status(swDataNotFound)
		}
		return success(publicKeyTemplate(c.st.decKey.PublicKey()))
	case !c.sess.admin:
		return status(swSecurityStatus)
	case crt != crtDecryption:
		return status(swFuncUnsupported)
	}
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return status(swMemoryFailure)
	}
	next := c.st.clone()
	next.decKey = key
	if !c.commit(next) {
		return status(swMemoryFailure)
	}
	return success(publicKeyTemplate(key.PublicKey()))
}

// publicKeyTemplate is 7F49 { 86 point } (v3.4 §7.2.14, ECC public key);
// for P-256 that is 7F 49 43 86 41 04 || X || Y.
func publicKeyTemplate(pub *ecdh.PublicKey) []byte {
	return tlv(tagPublicKey, tlv(tagExternalECPoint, pub.Bytes()))
}

// keyInformation is DO DE (v3.4 §4.4.3.8): key 1 (signature) and 3
// (authentication) not present (00), key 2 (decryption) generated on the
// card (01) once it exists.
func (c *Card) keyInformation() []byte {
	var dec byte
	if c.st.decKey != nil {
		dec = 0x01
	}
	return []byte{0x01, 0x00, 0x02, dec, 0x03, 0x00}
}

// privateKeyOperation answers PSO:CDS (9E 9A, needs PW1 81), PSO:DECIPHER
// (80 86, needs PW1 82, v3.4 §7.2.11) and INTERNAL AUTHENTICATE (needs PW1
// 82, §7.2.13): 6982 before the PIN. There is no signature or
// authentication key, so those answer 6A88 after the PIN.
func (c *Card) privateKeyOperation(cmd command) response {
	var need openpgp.PINRef
	decipher := false
	switch {
	case cmd.ins == insIntAuth && cmd.p1 == 0 && cmd.p2 == 0:
		need = openpgp.PW1
	case cmd.ins == insPSO && cmd.p1 == 0x9E && cmd.p2 == 0x9A:
		need = openpgp.PW1Sign
	case cmd.ins == insPSO && cmd.p1 == 0x80 && cmd.p2 == 0x86:
		need, decipher = openpgp.PW1, true
	default:
		return status(swWrongP1P2)
	}
	if !c.sess.verified(need) {
		return status(swSecurityStatus)
	}
	if !decipher {
		return status(swDataNotFound)
	}
	return c.decipherECDH(cmd.data)
}

// decipherECDH is PSO:DECIPHER with the ECDH key (v3.4 §7.2.11): the data
// is A6 { 7F49 { 86 point } }, each TLV alone in its parent with a minimal
// length, and the point an uncompressed P-256 point on the curve (else
// 6A80). With no key the card answers 6A88 whatever the data. The answer is
// the shared secret, the 32-byte X coordinate of d·point. Nothing is
// persisted: the command changes no state.
func (c *Card) decipherECDH(data []byte) response {
	if c.st.decKey == nil {
		return status(swDataNotFound)
	}
	point, ok := parseECDHData(data)
	if !ok {
		return status(swBadData)
	}
	pub, err := ecdh.P256().NewPublicKey(point)
	if err != nil {
		return status(swBadData)
	}
	shared, err := c.st.decKey.ECDH(pub)
	if err != nil {
		return status(swBadData)
	}
	return success(shared)
}

// parseECDHData unwraps A6 { 7F49 { 86 point } }; ok is false unless each
// level is exactly one TLV of the expected tag with a minimal length.
func parseECDHData(data []byte) (point []byte, ok bool) {
	for _, want := range []uint16{tagCipher, tagPublicKey, tagExternalECPoint} {
		tag, value, ok := onlyTLV(data)
		if !ok || tag != want {
			return nil, false
		}
		data = value
	}
	return data, true
}

// onlyTLV reads b as exactly one BER-TLV (ISO 7816-4 §5.2, the inverse of
// tlv): a one-byte tag, or two bytes when the first ends in 1F (a third tag
// byte is refused); a length in its minimal form (00..7F, 81 80..FF,
// 82 0100..FFFF); and nothing after the value.
func onlyTLV(b []byte) (tag uint16, value []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, false
	}
	tag, b = uint16(b[0]), b[1:]
	if tag&0x1F == 0x1F {
		if len(b) < 2 || b[0]&0x80 != 0 {
			return 0, nil, false
		}
		tag, b = tag<<8|uint16(b[0]), b[1:]
	}
	var n int
	switch l := b[0]; {
	case l < 0x80:
		n, b = int(l), b[1:]
	case l == 0x81 && len(b) >= 2 && b[1] >= 0x80:
		n, b = int(b[1]), b[2:]
	case l == 0x82 && len(b) >= 3 && b[1] != 0:
		n, b = int(b[1])<<8|int(b[2]), b[3:]
	default:
		return 0, nil, false
	}
	if len(b) != n {
		return 0, nil, false
	}
	return tag, b, true
}
