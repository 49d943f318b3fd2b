package openpgp

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// ParseResponse splits a response APDU into its data and status word
// (ISO 7816-4 §5.1: data || SW1 SW2). The data aliases resp. A response
// shorter than the two status bytes is an error wrapping ErrMalformedResponse.
func ParseResponse(resp []byte) (data []byte, sw uint16, err error) {
	if len(resp) < 2 {
		return nil, 0, fmt.Errorf("%w: response APDU of %d bytes, need at least the 2 status bytes", ErrMalformedResponse, len(resp))
	}
	n := len(resp) - 2
	return resp[:n], binary.BigEndian.Uint16(resp[n:]), nil
}

// AID is the application identifier, DO 4F (OpenPGP card v3.4 §4.2.1):
// D2 76 00 01 24 | 01 | version (2) | manufacturer (2) | serial (4) | 00 00.
type AID struct {
	Raw          [16]byte
	Version      uint16 // e.g. 0x0304 for v3.4
	Manufacturer uint16 // e.g. 0xFFFE, a test card with a random serial
	Serial       uint32
}

// SerialString is the manufacturer and serial number as GnuPG prints them in
// "Serial number" style, "%04X%08X", e.g. "FFFE00000001".
func (a AID) SerialString() string {
	return fmt.Sprintf("%04X%08X", a.Manufacturer, a.Serial)
}

// ParseAID decodes the 16-byte value of DO 4F. Anything but 16 bytes
// starting D2 76 00 01 24 01 is an error wrapping ErrMalformedResponse.
func ParseAID(b []byte) (AID, error) {
	if len(b) != 16 {
		return AID{}, fmt.Errorf("%w: AID (DO 4F) is %d bytes, want 16", ErrMalformedResponse, len(b))
	}
	if !bytes.HasPrefix(b, aidPrefix) {
		return AID{}, fmt.Errorf("%w: AID (DO 4F) does not start D2 76 00 01 24 01: not an OpenPGP application", ErrMalformedResponse)
	}
	var a AID
	copy(a.Raw[:], b)
	a.Version = binary.BigEndian.Uint16(b[6:8])
	a.Manufacturer = binary.BigEndian.Uint16(b[8:10])
	a.Serial = binary.BigEndian.Uint32(b[10:14])
	return a, nil
}

// PWStatus is DO C4, the PW status bytes (OpenPGP card v3.4 §4.4.1, DO C4).
type PWStatus struct {
	PW1MultiUse bool // byte 0: 01 = PW1 (81) stays valid for several PSO:CDS; 00 = for one only
	MaxLenPW1   int  // bytes 1-3: maximum lengths (bit 8, the PIN block 2 format flag, masked off)
	MaxLenRC    int
	MaxLenPW3   int
	TriesPW1    int // bytes 4-6: tries left; 0 means blocked (for RC: not set or blocked)
	TriesRC     int
	TriesPW3    int
}

// ParsePWStatus decodes the value of DO C4, which must be exactly 7 bytes
// (OpenSC refuses other lengths too); otherwise the error wraps
// ErrMalformedResponse.
func ParsePWStatus(b []byte) (PWStatus, error) {
	if len(b) != 7 {
		return PWStatus{}, fmt.Errorf("%w: PW status bytes (DO C4) are %d bytes, want 7", ErrMalformedResponse, len(b))
	}
	return PWStatus{
		PW1MultiUse: b[0] != 0,
		MaxLenPW1:   int(b[1] & 0x7F),
		MaxLenRC:    int(b[2] & 0x7F),
		MaxLenPW3:   int(b[3] & 0x7F),
		TriesPW1:    int(b[4]),
		TriesRC:     int(b[5]),
		TriesPW3:    int(b[6]),
	}, nil
}

// tries returns the tries left for ref: PW1 (81 and 82 share one counter) or PW3.
func (s PWStatus) tries(ref PINRef) int {
	if ref == PW3 {
		return s.TriesPW3
	}
	return s.TriesPW1
}
