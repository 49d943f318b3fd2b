package openpgp

import (
	"fmt"
)

// Instruction bytes (OpenPGP card v3.4 §7.2, "Commands in detail").
const (
	insSelect         = 0xA4
	insGetData        = 0xCA
	insPutData        = 0xDA
	insVerify         = 0x20
	insChangeRefData  = 0x24
	insGetResponse    = 0xC0
	insGenerateKey    = 0x47 // GENERATE ASYMMETRIC KEY PAIR, v3.4 §7.2.14
	insPSO            = 0x2A // PERFORM SECURITY OPERATION, v3.4 §7.2.10-11
	maxShortData      = 255
	verifyClearStatus = 0xFF // VERIFY P1=FF: reset the verification status (v3.4 §7.2.2)
)

// PINRef is the reference (P2) of a PIN in VERIFY and CHANGE REFERENCE DATA.
type PINRef byte

// PIN references (OpenPGP card v3.4 §7.2.2 VERIFY). 81 and 82 name the same
// PW1 with one shared retry counter but separate verification flags.
const (
	PW1Sign PINRef = 0x81 // PW1 for PSO:CDS (signing)
	PW1     PINRef = 0x82 // PW1 for the other operations, including private DOs 0101/0103
	PW3     PINRef = 0x83 // Admin PIN
)

// String names the reference as it appears in operation names ("PW3").
func (r PINRef) String() string {
	switch r {
	case PW1Sign:
		return "PW1 (81)"
	case PW1:
		return "PW1 (82)"
	case PW3:
		return "PW3"
	default:
		return fmt.Sprintf("PIN reference %02X", byte(r))
	}
}

func (r PINRef) valid() bool { return r == PW1Sign || r == PW1 || r == PW3 }

// aidPrefix is the registered application identifier of the OpenPGP
// application: RID D2 76 00 01 24 and PIX application 01 (v3.4 §4.2.1).
var aidPrefix = []byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01}

// EncodeSelect encodes SELECT of the OpenPGP application by its 6-byte AID
// prefix: 00 A4 04 00 06 D2 76 00 01 24 01, with no Le, as GnuPG sends it
// (v3.4 §7.2.1 SELECT). P2=00 is deliberate: some cards reject 0C.
func EncodeSelect() []byte {
	cmd := []byte{0x00, insSelect, 0x04, 0x00, byte(len(aidPrefix))}
	return append(cmd, aidPrefix...)
}

// EncodeGetData encodes GET DATA of the DO tag with Le=00 (up to 256 bytes)
// (v3.4 §7.2.6 GET DATA).
func EncodeGetData(tag uint16) []byte {
	return []byte{0x00, insGetData, byte(tag >> 8), byte(tag), 0x00}
}

// EncodePutData encodes PUT DATA of the DO tag (v3.4 §7.2.8 PUT DATA). Empty
// data gives a 4-byte command (case 1), which empties the DO.
func EncodePutData(tag uint16, data []byte) ([]byte, error) {
	return encodeWithData(fmt.Sprintf("PUT DATA %s", tagName(tag)),
		[]byte{0x00, insPutData, byte(tag >> 8), byte(tag)}, data)
}

// EncodeVerify encodes VERIFY of ref (v3.4 §7.2.2 VERIFY). An empty pin gives
// the 4-byte status query: the card answers 9000 if ref is verified, else
// 63Cx with x tries left, and spends no try.
func EncodeVerify(ref PINRef, pin []byte) ([]byte, error) {
	if !ref.valid() {
		return nil, fmt.Errorf("openpgp: VERIFY: %w: %s is not 81, 82 or 83", ErrInvalidArgument, ref)
	}
	return encodeWithData("VERIFY "+ref.String(), []byte{0x00, insVerify, 0x00, byte(ref)}, pin)
}

// EncodeClearVerification encodes VERIFY with P1=FF and no data, which resets
// the verification status of ref (v3.4 §7.2.2 VERIFY).
func EncodeClearVerification(ref PINRef) ([]byte, error) {
	if !ref.valid() {
		return nil, fmt.Errorf("openpgp: VERIFY (clear): %w: %s is not 81, 82 or 83", ErrInvalidArgument, ref)
	}
	return []byte{0x00, insVerify, verifyClearStatus, byte(ref)}, nil
}

// EncodeChangeReferenceData encodes CHANGE REFERENCE DATA of ref with the data
// old||new; the card splits it at the stored PIN length (v3.4 §7.2.3). ref
// must be PW1Sign (81, which names PW1 here) or PW3 (83).
func EncodeChangeReferenceData(ref PINRef, oldPIN, newPIN []byte) ([]byte, error) {
	if ref != PW1Sign && ref != PW3 {
		return nil, fmt.Errorf("openpgp: CHANGE REFERENCE DATA: %w: %s is not 81 (PW1) or 83 (PW3)", ErrInvalidArgument, ref)
	}
	op := "CHANGE REFERENCE DATA " + ref.String()
	if len(oldPIN)+len(newPIN) > maxShortData {
		return nil, fmt.Errorf("openpgp: %s: %w: old and new PIN are %d bytes together, the maximum is %d",
			op, ErrDataTooLong, len(oldPIN)+len(newPIN), maxShortData)
	}
	data := make([]byte, 0, len(oldPIN)+len(newPIN))
	data = append(append(data, oldPIN...), newPIN...)
	cmd, err := encodeWithData(op, []byte{0x00, insChangeRefData, 0x00, byte(ref)}, data)
	clear(data)
	return cmd, err
}

// EncodeGetResponse encodes GET RESPONSE for le bytes (00 means 256), sent
// after a 61xx status word (ISO 7816-4 §7.6.1).
func EncodeGetResponse(le byte) []byte {
	return []byte{0x00, insGetResponse, 0x00, 0x00, le}
}

// encodeWithData appends Lc and data to a 4-byte header (ISO 7816-4 §5.1,
// short length). Empty data gives the bare header.
func encodeWithData(op string, header []byte, data []byte) ([]byte, error) {
	if len(data) > maxShortData {
		return nil, fmt.Errorf("openpgp: %s: %w: data is %d bytes, the maximum is %d",
			op, ErrDataTooLong, len(data), maxShortData)
	}
	if len(data) == 0 {
		return header, nil
	}
	cmd := make([]byte, 0, len(header)+1+len(data))
	cmd = append(cmd, header...)
	cmd = append(cmd, byte(len(data)))
	return append(cmd, data...), nil
}

// withLe returns a copy of the short command APDU cmd with its Le set to le,
// for re-sending after 6Cxx (ISO 7816-4 §5.1: cases 1 to 4 are told apart by
// the length and Lc).
func withLe(cmd []byte, le byte) ([]byte, error) {
	switch {
	case len(cmd) < 4:
		return nil, fmt.Errorf("%w: command APDU of %d bytes", ErrInvalidArgument, len(cmd))
	case len(cmd) == 4: // case 1: add Le
		return append(append([]byte(nil), cmd...), le), nil
	case len(cmd) == 5: // case 2: replace Le
		return append(append([]byte(nil), cmd[:4]...), le), nil
	}
	lc := int(cmd[4])
	switch len(cmd) {
	case 5 + lc: // case 3: add Le
		return append(append([]byte(nil), cmd...), le), nil
	case 6 + lc: // case 4: replace Le
		out := append([]byte(nil), cmd...)
		out[len(out)-1] = le
		return out, nil
	default:
		return nil, fmt.Errorf("%w: command APDU of %d bytes does not match its Lc %d", ErrInvalidArgument, len(cmd), lc)
	}
}

// tagName formats a DO tag as in the specification: "4F", "5F52", "0101".
func tagName(tag uint16) string {
	if tag <= 0xFF {
		return fmt.Sprintf("%02X", tag)
	}
	return fmt.Sprintf("%04X", tag)
}
