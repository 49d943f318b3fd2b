package cardemu

import (
	"bytes"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// historicalBytes are SmartPGP's (OpenPGP card v3.4 §6): category 00,
// card service data 31 C5, card capabilities 73 C0 01 80 (command chaining,
// no extended Lc/Le), status 05 (operational) 90 00. DO 5F52 mirrors them.
var historicalBytes = []byte{0x00, 0x31, 0xC5, 0x73, 0xC0, 0x01, 0x80, 0x05, 0x90, 0x00}

// atr is T=1 with short APDUs only: TS 3B, T0 DA (TA1 TC1 TD1, 10 historical
// bytes), TA1 18, TC1 FF, TD1 81, TD2 B1, TA3 FE (IFSC 254), TB3 75, TD3 1F,
// TA4 03, the historical bytes, and TCK (XOR of T0 to the last historical byte).
var atr = func() []byte {
	b := []byte{0x3B, 0xDA, 0x18, 0xFF, 0x81, 0xB1, 0xFE, 0x75, 0x1F, 0x03}
	b = append(b, historicalBytes...)
	var tck byte
	for _, x := range b[1:] {
		tck ^= x
	}
	return append(b, tck)
}()

// extendedCapabilities is DO C0 (OpenPGP card v3.4 §4.4.3.7): private use
// DOs supported (08) and nothing else; no secure messaging; no GET
// CHALLENGE; certificate 7F21 up to 2048 bytes; special DOs up to 255
// bytes; no PIN block 2 format; no MSE.
var extendedCapabilities = []byte{0x08, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0xFF, 0x00, 0x00}

// rsa2048 is an algorithm attributes value (v3.4 §4.4.3.9): RSA, 2048-bit
// modulus, 32-bit exponent, standard import format. C1 (signature) and C3
// (authentication) announce it; the card never holds those keys.
var rsa2048 = []byte{0x01, 0x08, 0x00, 0x00, 0x20, 0x00}

// ecdhP256 is the algorithm attributes value of the decryption key, DO C2
// (v3.4 §4.4.3.9): ECDH (12) on NIST P-256, OID 1.2.840.10045.3.1.7 as its
// DER value bytes, no import format byte.
var ecdhP256 = []byte{0x12, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07}

// access is who may read or write a DO (v3.4 §4.4.1 and §4.4.2).
type access int

const (
	always  access = iota
	needPW1        // PW1 verified with reference 82
	needPW3        // PW3 verified
)

// doRule is the access and maximum length of a writable DO.
type doRule struct {
	read, write access
	max         int
}

// storedDOs are the DOs the card stores (and its image holds). The private
// use DOs follow v3.4 §4.4.1: 0101 read always, write PW1; 0102 read always,
// write PW3; 0103 read and write PW1; 0104 read and write PW3. Every other
// PUT DATA needs PW3.
var storedDOs = map[uint16]doRule{
	0x0101: {read: always, write: needPW1, max: 255},
	0x0102: {read: always, write: needPW3, max: 255},
	0x0103: {read: needPW1, write: needPW1, max: 255},
	0x0104: {read: needPW3, write: needPW3, max: 255},
	0x005B: {read: always, write: needPW3, max: 39},   // name
	0x5F2D: {read: always, write: needPW3, max: 8},    // language preferences
	0x5F35: {read: always, write: needPW3, max: 1},    // sex
	0x005E: {read: always, write: needPW3, max: 255},  // login data
	0x5F50: {read: always, write: needPW3, max: 255},  // URL
	0x7F21: {read: always, write: needPW3, max: 2048}, // cardholder certificate
}

func isPrivateDO(tag uint16) bool { return tag >= 0x0101 && tag <= 0x0104 }

func (c *Card) allowed(a access) bool {
	switch a {
	case always:
		return true
	case needPW1:
		return c.sess.pw1User
	case needPW3:
		return c.sess.admin
	}
	return false
}

// selectFile answers SELECT (v3.4 §7.2.1): the OpenPGP application by its
// 6-byte AID prefix selects it and clears the PIN state (as SmartPGP does);
// anything else, including GnuPG's MF probe 00 A4 00 0C 02 3F 00, is 6A82
// and keeps the current selection.
func (c *Card) selectFile(cmd command) response {
	if cmd.p1 != 0x04 || !bytes.HasPrefix(cmd.data, aidPrefix) {
		return status(swFileNotFound)
	}
	c.sess = session{selected: true}
	return status(swOK)
}

var aidPrefix = []byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01}

// getData answers GET DATA (v3.4 §7.2.6) for the DOs of §4.4.1 that GnuPG
// and OpenSC read. Constructed DOs (6E, 65, 7A) include their outer tag, as
// SmartPGP's do. F9 (no KDF), D6-D8 (no user interaction flag), FA and
// unknown tags answer 6A88. No DO holds or reveals the private decryption
// key: only READ PUBLIC KEY (keys.go) answers anything derived from it.
func (c *Card) getData(cmd command) response {
	tag := uint16(cmd.p1)<<8 | uint16(cmd.p2)
	if rule, ok := storedDOs[tag]; ok {
		if !c.allowed(rule.read) {
			return status(swSecurityStatus)
		}
		return success(c.st.dos[tag])
	}
	switch tag {
	case 0x004F:
		return success(c.aid())
	case 0x5F52:
		return success(historicalBytes)
	case 0x006E:
		return success(c.applicationRelatedData())
	case 0x0065:
		return success(c.cardholderRelatedData())
	case 0x007A:
		// Security support template: signature counter 93, 3 bytes.
		return success(tlv(0x7A, tlv(0x93, []byte{0, 0, 0})))
	case 0x00C0:
		return success(extendedCapabilities)
	case 0x00C1, 0x00C3:
		return success(rsa2048)
	case 0x00C2:
		return success(ecdhP256)
	case 0x00C4:
		return success(c.pwStatus())
	case 0x00C5, 0x00C6:
		return success(make([]byte, 60)) // fingerprints: none
	case 0x00CD:
		return success(make([]byte, 12)) // generation times: none
	case 0x00DE:
		return success(c.keyInformation())
	default:
		return status(swDataNotFound)
	}
}

// aid is DO 4F (v3.4 §4.2.1): version 3.4, manufacturer, serial, RFU 00 00.
func (c *Card) aid() []byte {
	s := c.st
	return []byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01, 0x03, 0x04,
		byte(s.manufacturer >> 8), byte(s.manufacturer),
		byte(s.serial >> 24), byte(s.serial >> 16), byte(s.serial >> 8), byte(s.serial),
		0x00, 0x00}
}

// pwStatus is DO C4: PW1 valid for several PSO:CDS, maximum lengths 127,
// the tries left for PW1, RC (not set: 0) and PW3.
func (c *Card) pwStatus() []byte {
	return []byte{0x01, maxPINLen, maxPINLen, maxPINLen, byte(c.st.triesPW1), 0x00, byte(c.st.triesPW3)}
}

// applicationRelatedData is DO 6E (v3.4 §4.4.3.1): 4F, 5F52 and the
// discretionary DOs 73 {C0 C1 C2 C3 C4 C5 C6 CD DE}. There is no 7F66
// (extended length information), as the card has no extended length, and
// no 7F74, as it has no button.
func (c *Card) applicationRelatedData() []byte {
	var discretionary []byte
	for _, do := range []struct {
		tag   uint16
		value []byte
	}{
		{0xC0, extendedCapabilities},
		{0xC1, rsa2048}, {0xC2, ecdhP256}, {0xC3, rsa2048},
		{0xC4, c.pwStatus()},
		{0xC5, make([]byte, 60)}, {0xC6, make([]byte, 60)},
		{0xCD, make([]byte, 12)},
		{0xDE, c.keyInformation()},
	} {
		discretionary = append(discretionary, tlv(do.tag, do.value)...)
	}
	var v []byte
	v = append(v, tlv(0x4F, c.aid())...)
	v = append(v, tlv(0x5F52, historicalBytes)...)
	v = append(v, tlv(0x73, discretionary)...)
	return tlv(0x6E, v)
}

// cardholderRelatedData is DO 65: name 5B, language 5F2D, sex 5F35.
func (c *Card) cardholderRelatedData() []byte {
	var v []byte
	v = append(v, tlv(0x5B, c.st.dos[0x5B])...)
	v = append(v, tlv(0x5F2D, c.st.dos[0x5F2D])...)
	v = append(v, tlv(0x5F35, c.st.dos[0x5F35])...)
	return tlv(0x65, v)
}

// tlv encodes a BER-TLV with a one- or two-byte tag and a minimal length
// (ISO 7816-4 §5.2), with the client's encoder: one codec for both sides.
func tlv(tag uint16, value []byte) []byte { return openpgp.AppendTLV(nil, tag, value) }

// putData answers PUT DATA (v3.4 §7.2.8) for the stored DOs. A torn write
// (TearNextWrite) of a private DO keeps only a prefix of the value and loses
// power instead of answering.
func (c *Card) putData(cmd command) response {
	tag := uint16(cmd.p1)<<8 | uint16(cmd.p2)
	rule, ok := storedDOs[tag]
	switch {
	case !ok:
		return status(swDataNotFound)
	case !c.allowed(rule.write):
		return status(swSecurityStatus)
	case len(cmd.data) > rule.max:
		return status(swWrongLength)
	}
	value := bytes.Clone(cmd.data)
	if value == nil {
		value = []byte{}
	}
	torn := isPrivateDO(tag) && c.tearKeep >= 0
	if torn {
		value = value[:min(c.tearKeep, len(value))]
		c.tearKeep = -1
	}
	next := c.st.clone()
	next.dos[tag] = value
	committed := c.commit(next)
	switch {
	case torn:
		return response{lostPower: true}
	case !committed:
		return status(swMemoryFailure)
	}
	return status(swOK)
}

// selectData answers SELECT DATA (v3.4 §7.2.5). Every DO here has one
// occurrence, so only occurrence 0 exists.
func (c *Card) selectData(cmd command) response {
	switch {
	case cmd.p2 != 0x04:
		return status(swWrongP1P2)
	case len(cmd.data) == 0 || cmd.data[0] != 0x60:
		return status(swBadData)
	case cmd.p1 != 0:
		return status(swDataNotFound)
	}
	return status(swOK)
}
