package openpgp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// p256Point is the P-256 base point G, uncompressed: a valid 65-byte point.
var p256Point = cat([]byte{0x04},
	[]byte{0x6B, 0x17, 0xD1, 0xF2, 0xE1, 0x2C, 0x42, 0x47, 0xF8, 0xBC, 0xE6, 0xE5, 0x63, 0xA4, 0x40, 0xF2,
		0x77, 0x03, 0x7D, 0x81, 0x2D, 0xEB, 0x33, 0xA0, 0xF4, 0xA1, 0x39, 0x45, 0xD8, 0x98, 0xC2, 0x96},
	[]byte{0x4F, 0xE3, 0x42, 0xE2, 0xFE, 0x1A, 0x7F, 0x9B, 0x8E, 0xE7, 0xEB, 0x4A, 0x7C, 0x0F, 0x9E, 0x16,
		0x2B, 0xCE, 0x33, 0x57, 0x6B, 0x31, 0x5E, 0xCE, 0xCB, 0xB6, 0x40, 0x68, 0x37, 0xBF, 0x51, 0xF5})

func pt(n int) []byte { return bytes.Repeat([]byte{0x5A}, n) }

func TestKeyEncoders(t *testing.T) {
	psoHeader := []byte{0x00, 0x2A, 0x80, 0x86}
	tests := []struct {
		name    string
		encode  func() ([]byte, error)
		want    []byte
		wantErr error
	}{
		{"generate decryption key", func() ([]byte, error) { return EncodeGenerateKey(DecryptionKey) },
			[]byte{0x00, 0x47, 0x80, 0x00, 0x02, 0xB8, 0x00, 0x00}, nil},
		{"generate signature key", func() ([]byte, error) { return EncodeGenerateKey(SignatureKey) },
			[]byte{0x00, 0x47, 0x80, 0x00, 0x02, 0xB6, 0x00, 0x00}, nil},
		{"generate authentication key", func() ([]byte, error) { return EncodeGenerateKey(AuthenticationKey) },
			[]byte{0x00, 0x47, 0x80, 0x00, 0x02, 0xA4, 0x00, 0x00}, nil},
		{"generate bad slot", func() ([]byte, error) { return EncodeGenerateKey(0x99) }, nil, ErrInvalidArgument},
		{"read public key decryption", func() ([]byte, error) { return EncodeReadPublicKey(DecryptionKey) },
			[]byte{0x00, 0x47, 0x81, 0x00, 0x02, 0xB8, 0x00, 0x00}, nil},
		{"read public key signature", func() ([]byte, error) { return EncodeReadPublicKey(SignatureKey) },
			[]byte{0x00, 0x47, 0x81, 0x00, 0x02, 0xB6, 0x00, 0x00}, nil},
		{"read public key bad slot", func() ([]byte, error) { return EncodeReadPublicKey(0) }, nil, ErrInvalidArgument},
		{"decipher P-256", func() ([]byte, error) { return EncodePSODecipherECDH(p256Point) },
			cat(psoHeader, []byte{0x48, 0xA6, 0x46, 0x7F, 0x49, 0x43, 0x86, 0x41}, p256Point, []byte{0x00}), nil},
		{"decipher 1-byte point", func() ([]byte, error) { return EncodePSODecipherECDH([]byte{0x00}) },
			cat(psoHeader, []byte{0x08, 0xA6, 0x06, 0x7F, 0x49, 0x03, 0x86, 0x01, 0x00, 0x00}), nil},
		// 122 bytes: 86 7A, 7F49 7C, A6 7F: all short, Lc 81.
		{"decipher A6 at 127", func() ([]byte, error) { return EncodePSODecipherECDH(pt(122)) },
			cat(psoHeader, []byte{0x81, 0xA6, 0x7F, 0x7F, 0x49, 0x7C, 0x86, 0x7A}, pt(122), []byte{0x00}), nil},
		// 123 bytes: 7F49 holds 125, A6 holds 128: A6 needs 81 80.
		{"decipher A6 at 128", func() ([]byte, error) { return EncodePSODecipherECDH(pt(123)) },
			cat(psoHeader, []byte{0x83, 0xA6, 0x81, 0x80, 0x7F, 0x49, 0x7D, 0x86, 0x7B}, pt(123), []byte{0x00}), nil},
		// 125 bytes: 7F49 holds 127, A6 130.
		{"decipher 7F49 at 127", func() ([]byte, error) { return EncodePSODecipherECDH(pt(125)) },
			cat(psoHeader, []byte{0x85, 0xA6, 0x81, 0x82, 0x7F, 0x49, 0x7F, 0x86, 0x7D}, pt(125), []byte{0x00}), nil},
		// 126 bytes: 7F49 holds 128: 81 80.
		{"decipher 7F49 at 128", func() ([]byte, error) { return EncodePSODecipherECDH(pt(126)) },
			cat(psoHeader, []byte{0x87, 0xA6, 0x81, 0x84, 0x7F, 0x49, 0x81, 0x80, 0x86, 0x7E}, pt(126), []byte{0x00}), nil},
		{"decipher 86 at 127", func() ([]byte, error) { return EncodePSODecipherECDH(pt(127)) },
			cat(psoHeader, []byte{0x88, 0xA6, 0x81, 0x85, 0x7F, 0x49, 0x81, 0x81, 0x86, 0x7F}, pt(127), []byte{0x00}), nil},
		{"decipher 86 at 128", func() ([]byte, error) { return EncodePSODecipherECDH(pt(128)) },
			cat(psoHeader, []byte{0x8A, 0xA6, 0x81, 0x87, 0x7F, 0x49, 0x81, 0x83, 0x86, 0x81, 0x80}, pt(128), []byte{0x00}), nil},
		{"decipher longest point", func() ([]byte, error) { return EncodePSODecipherECDH(pt(245)) },
			cat(psoHeader, []byte{0xFF, 0xA6, 0x81, 0xFC, 0x7F, 0x49, 0x81, 0xF8, 0x86, 0x81, 0xF5}, pt(245), []byte{0x00}), nil},
		{"decipher point too long", func() ([]byte, error) { return EncodePSODecipherECDH(pt(246)) }, nil, ErrDataTooLong},
		{"decipher huge point", func() ([]byte, error) { return EncodePSODecipherECDH(pt(70000)) }, nil, ErrDataTooLong},
		{"decipher empty point", func() ([]byte, error) { return EncodePSODecipherECDH(nil) }, nil, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.encode()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got  % X\nwant % X", got, tt.want)
			}
		})
	}
}

func TestParseECPublicKey(t *testing.T) {
	long := pt(300)
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		errText string // non-empty: an error wrapping ErrMalformedResponse containing it
	}{
		{"P-256", cat([]byte{0x7F, 0x49, 0x43, 0x86, 0x41}, p256Point), p256Point, ""},
		{"81 lengths", cat([]byte{0x7F, 0x49, 0x81, 0x83, 0x86, 0x81, 0x80}, pt(128)), pt(128), ""},
		{"82 lengths", cat([]byte{0x7F, 0x49, 0x82, 0x01, 0x30, 0x86, 0x82, 0x01, 0x2C}, long), long, ""},
		{"one-byte point", []byte{0x7F, 0x49, 0x03, 0x86, 0x01, 0x04}, []byte{0x04}, ""},
		{"empty", nil, nil, "no bytes left"},
		{"other tag", cat([]byte{0x7F, 0x48, 0x43, 0x86, 0x41}, p256Point), nil, "tag 7F48, want 7F49"},
		{"one-byte tag", []byte{0x49, 0x00}, nil, "tag 49, want 7F49"},
		{"tag missing second byte", []byte{0x7F}, nil, "second byte"},
		{"three-byte tag", []byte{0x7F, 0xC9, 0x01, 0x00}, nil, "more than two bytes"},
		{"no length", []byte{0x7F, 0x49}, nil, "no length"},
		{"template truncated", cat([]byte{0x7F, 0x49, 0x44, 0x86, 0x41}, p256Point), nil, "length 68, only 67 bytes follow"},
		{"point truncated", cat([]byte{0x7F, 0x49, 0x43, 0x86, 0x42}, p256Point), nil, "length 66, only 65"},
		{"trailing bytes", cat([]byte{0x7F, 0x49, 0x43, 0x86, 0x41}, p256Point, []byte{0x90}), nil, "1 bytes after tag 7F49"},
		{"bytes after the point", cat([]byte{0x7F, 0x49, 0x44, 0x86, 0x41}, p256Point, []byte{0x00}), nil, "1 bytes after the EC point"},
		{"template not minimal", cat([]byte{0x7F, 0x49, 0x81, 0x43, 0x86, 0x41}, p256Point), nil, "81 43 is not minimal"},
		{"point not minimal", cat([]byte{0x7F, 0x49, 0x44, 0x86, 0x81, 0x41}, p256Point), nil, "81 41 is not minimal"},
		{"82 not minimal", cat([]byte{0x7F, 0x49, 0x45, 0x86, 0x82, 0x00, 0x41}, p256Point), nil, "82 0041 is not minimal"},
		{"81 truncated", []byte{0x7F, 0x49, 0x81}, nil, "truncated"},
		{"indefinite length", []byte{0x7F, 0x49, 0x80, 0x00, 0x00}, nil, "length byte 80"},
		{"83 length", []byte{0x7F, 0x49, 0x83, 0x00, 0x00, 0x01, 0x00}, nil, "length byte 83"},
		{"empty template", []byte{0x7F, 0x49, 0x00}, nil, "no bytes left"},
		{"empty point", []byte{0x7F, 0x49, 0x02, 0x86, 0x00}, nil, "EC point is empty"},
		{"RSA modulus", []byte{0x7F, 0x49, 0x08, 0x81, 0x01, 0xC1, 0x82, 0x03, 0x01, 0x00, 0x01}, nil, "RSA key (tag 81)"},
		{"RSA exponent first", []byte{0x7F, 0x49, 0x05, 0x82, 0x03, 0x01, 0x00, 0x01}, nil, "RSA key (tag 82)"},
		{"other child", []byte{0x7F, 0x49, 0x03, 0x87, 0x01, 0x00}, nil, "holds tag 87, want the EC point 86"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			got, err := ParseECPublicKey(in)
			if tt.errText != "" {
				if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error %v, want ErrMalformedResponse with %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got % X, want % X", got, tt.want)
			}
			clear(in)
			if !bytes.Equal(got, tt.want) {
				t.Error("the point aliases the response")
			}
		})
	}
}

func TestSharedSecretX(t *testing.T) {
	x := p256Point[1:33]
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr bool
	}{
		{"X alone", x, x, false},
		{"whole point", p256Point, x, false},
		{"X starting 04", cat([]byte{0x04}, x[1:]), cat([]byte{0x04}, x[1:]), false},
		{"odd, not 04", cat([]byte{0x40}, x), cat([]byte{0x40}, x), false},
		{"04 with 2 bytes", []byte{0x04, 0x01, 0x02}, []byte{0x01}, false},
		{"04 alone", []byte{0x04}, nil, true},
		{"empty", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sharedSecretX(tt.in)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrMalformedResponse)) {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got % X, want % X", got, tt.want)
			}
		})
	}
}

func TestAppendTLV(t *testing.T) {
	tests := []struct {
		tag  uint16
		n    int
		head []byte
	}{
		{0x86, 0, []byte{0x86, 0x00}},
		{0x86, 0x7F, []byte{0x86, 0x7F}},
		{0x86, 0x80, []byte{0x86, 0x81, 0x80}},
		{0x86, 0xFF, []byte{0x86, 0x81, 0xFF}},
		{0x7F49, 0x100, []byte{0x7F, 0x49, 0x82, 0x01, 0x00}},
		{0x7F49, 0xFFFF, []byte{0x7F, 0x49, 0x82, 0xFF, 0xFF}},
	}
	for _, tt := range tests {
		v := pt(tt.n)
		got := AppendTLV([]byte{0xEE}, tt.tag, v)
		want := cat([]byte{0xEE}, tt.head, v)
		if !bytes.Equal(got, want) {
			t.Errorf("%X, %d bytes: head % X, want % X", tt.tag, tt.n, got[:len(tt.head)+1], want[:len(tt.head)+1])
		}
		if l := tlvLen(tt.tag, tt.n); l != len(got)-1 {
			t.Errorf("%X, %d bytes: tlvLen %d, encoded %d", tt.tag, tt.n, l, len(got)-1)
		}
		tag, value, rest, err := readTLV(got[1:])
		if err != nil || tag != tt.tag || !bytes.Equal(value, v) || len(rest) != 0 {
			t.Errorf("%X, %d bytes: read back %X %d %d %v", tt.tag, tt.n, tag, len(value), len(rest), err)
		}
	}
}

func TestKeySlotString(t *testing.T) {
	for k, want := range map[KeySlot]string{SignatureKey: "B6 (signature key)", DecryptionKey: "B8 (decryption key)",
		AuthenticationKey: "A4 (authentication key)", 0x12: "key slot 12"} {
		if got := k.String(); got != want {
			t.Errorf("%02X: got %q, want %q", byte(k), got, want)
		}
	}
}
