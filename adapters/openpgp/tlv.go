package openpgp

import (
	"errors"
	"fmt"
)

// BER-TLV as the OpenPGP card uses it (ISO 7816-4 §5.2, OpenPGP card v3.4
// §4.4.1): a tag of one byte, or two when the first ends in 1F (no
// three-byte tags occur); a length in its minimal form: 00..7F in one byte,
// 80..FF as 81 xx, 0100..FFFF as 82 xxxx.

// AppendTLV appends tag, the minimal length of value and value to dst.
// value must be at most FFFF bytes (a short APDU never gets near).
func AppendTLV(dst []byte, tag uint16, value []byte) []byte {
	if tag > 0xFF {
		dst = append(dst, byte(tag>>8))
	}
	dst = append(dst, byte(tag))
	switch n := len(value); {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n <= 0xFF:
		dst = append(dst, 0x81, byte(n))
	default:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	}
	return append(dst, value...)
}

// tlvLen is the encoded length of a TLV holding n value bytes.
func tlvLen(tag uint16, n int) int {
	l := 1 + n
	if tag > 0xFF {
		l++
	}
	switch {
	case n < 0x80:
		return l + 1
	case n <= 0xFF:
		return l + 2
	default:
		return l + 3
	}
}

// readTLV decodes the TLV at the start of b and returns its tag, its value
// and the bytes after it; value and rest alias b. A truncated TLV, a
// three-byte tag or a length not in its minimal form is an error that says
// which; the caller wraps it (ErrMalformedResponse for a card's answer).
func readTLV(b []byte) (tag uint16, value, rest []byte, err error) {
	if len(b) == 0 {
		return 0, nil, nil, errors.New("TLV expected, no bytes left")
	}
	tag, b = uint16(b[0]), b[1:]
	if tag&0x1F == 0x1F {
		if len(b) == 0 {
			return 0, nil, nil, fmt.Errorf("tag %02X is missing its second byte", tag)
		}
		if b[0]&0x80 != 0 {
			return 0, nil, nil, fmt.Errorf("tag %02X%02X... has more than two bytes", tag, b[0])
		}
		tag, b = tag<<8|uint16(b[0]), b[1:]
	}
	name := tagName(tag)
	if len(b) == 0 {
		return 0, nil, nil, fmt.Errorf("tag %s has no length", name)
	}
	var n int
	switch l := b[0]; {
	case l < 0x80:
		n, b = int(l), b[1:]
	case l == 0x81 && len(b) >= 2:
		if b[1] < 0x80 {
			return 0, nil, nil, fmt.Errorf("tag %s: length 81 %02X is not minimal", name, b[1])
		}
		n, b = int(b[1]), b[2:]
	case l == 0x82 && len(b) >= 3:
		if b[1] == 0 {
			return 0, nil, nil, fmt.Errorf("tag %s: length 82 %02X%02X is not minimal", name, b[1], b[2])
		}
		n, b = int(b[1])<<8|int(b[2]), b[3:]
	case l == 0x81 || l == 0x82:
		return 0, nil, nil, fmt.Errorf("tag %s: length is truncated", name)
	default:
		return 0, nil, nil, fmt.Errorf("tag %s: length byte %02X is not supported", name, l)
	}
	if n > len(b) {
		return 0, nil, nil, fmt.Errorf("tag %s: length %d, only %d bytes follow", name, n, len(b))
	}
	return tag, b[:n], b[n:], nil
}

// onlyTLV decodes b as exactly one TLV of tag want, with nothing after it.
func onlyTLV(b []byte, want uint16) ([]byte, error) {
	tag, value, rest, err := readTLV(b)
	switch {
	case err != nil:
		return nil, err
	case tag != want:
		return nil, fmt.Errorf("tag %s, want %s", tagName(tag), tagName(want))
	case len(rest) != 0:
		return nil, fmt.Errorf("%d bytes after tag %s", len(rest), tagName(want))
	}
	return value, nil
}
