package part10

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParsePINProperties(t *testing.T) {
	cases := []struct {
		in           string
		lines, chars int
		display      bool
		valid, t2    byte
	}{
		{"00 00 07 00", 0, 0, false, 0x07, 0}, // CCID, no display
		{"10 03 02 00", 3, 16, true, 0x02, 0}, // wLcdLayout 0x0310: REINER one
		{"10 02 07 05", 2, 16, true, 0x07, 5}, // 2×16
	}
	for _, c := range cases {
		p, err := ParsePINProperties(hx(t, c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if p.LcdLayout.Lines() != c.lines || p.LcdLayout.Chars() != c.chars || p.LcdLayout.HasDisplay() != c.display ||
			p.EntryValidationCondition != c.valid || p.TimeOut2 != c.t2 {
			t.Errorf("%s: %+v (%v)", c.in, p, p.LcdLayout)
		}
	}
	for _, in := range []string{"", "00", "00 00 07", "00 00 07 00 00"} {
		_, err := ParsePINProperties(hx(t, in))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "want 4") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestParseTLVPropertiesAllTags(t *testing.T) {
	in := hx(t, `
		01 02 10 02
		02 01 07
		03 01 00
		04 02 10 00
		05 02 02 00
		06 01 04
		07 01 08
		08 05 56 31 2E 30 30
		09 01 03
		0A 04 00 00 01 00
		0B 02 E6 08
		0C 02 34 34
		42 03 AA BB CC`)
	p, err := ParseTLVProperties(in)
	if err != nil {
		t.Fatal(err)
	}
	for tag := PropertyLcdLayout; tag <= PropertyIDProduct; tag++ {
		if !p.Has(tag) {
			t.Errorf("Has(%v) false", tag)
		}
	}
	if p.Has(0) || p.Has(13) || p.Has(0x42) {
		t.Error("Has true for a tag outside the table")
	}
	if p.LcdLayout != 0x0210 || p.LcdLayout.Lines() != 2 || p.LcdLayout.Chars() != 16 {
		t.Errorf("layout %#x", uint16(p.LcdLayout))
	}
	if p.EntryValidationCondition != 7 || p.TimeOut2 != 0 || p.LcdMaxCharacters != 16 || p.LcdMaxLines != 2 ||
		p.MinPINSize != 4 || p.MaxPINSize != 8 || string(p.FirmwareID) != "V1.00" || p.PPDUSupport != PPDUViaEscape|PPDUViaTransmit ||
		p.MaxAPDUDataSize != 0x10000 || p.IDVendor != 0x08E6 || p.IDProduct != 0x3434 {
		t.Errorf("decoded %+v", p)
	}
	if len(p.Unknown) != 1 || p.Unknown[0].Tag != 0x42 || !bytes.Equal(p.Unknown[0].Value, []byte{0xAA, 0xBB, 0xCC}) {
		t.Errorf("unknown %+v", p.Unknown)
	}
	// Values must not alias the input.
	in[len(in)-1] = 0
	in[28] = 'X'
	if p.Unknown[0].Value[2] != 0xCC || string(p.FirmwareID) != "V1.00" {
		t.Error("values alias the input buffer")
	}
}

func TestParseTLVPropertiesCCIDSubset(t *testing.T) {
	// What CCID sends for a reader without display: layout 0, bTimeOut2,
	// bPPDUSupport, VID, PID, max APDU 0.
	p, err := ParseTLVProperties(hx(t, "01 02 00 00 03 01 00 09 01 00 0B 02 E6 08 0C 02 34 34 0A 04 00 00 00 00"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Has(PropertyMinPINSize) || p.Has(PropertyMaxPINSize) || p.Has(PropertyLcdMaxLines) || p.Has(PropertyFirmwareID) {
		t.Errorf("absent tags reported: %+v", p)
	}
	if !p.Has(PropertyLcdLayout) || p.LcdLayout.HasDisplay() || !p.Has(PropertyMaxAPDUDataSize) {
		t.Errorf("%+v", p)
	}
	if p, err := ParseTLVProperties(nil); err != nil || p.Has(PropertyLcdLayout) || p.Unknown != nil {
		t.Errorf("empty: %+v %v", p, err)
	}
	if p, err := ParseTLVProperties(hx(t, "08 00")); err != nil || !p.Has(PropertyFirmwareID) || len(p.FirmwareID) != 0 {
		t.Errorf("empty firmware id: %+v %v", p, err)
	}
}

func TestParseTLVPropertiesMalformed(t *testing.T) {
	cases := []struct {
		name, in, msg string
	}{
		{"tag only", "01", "without a length byte"},
		{"tag only after a record", "03 01 00 07", "offset 3"},
		{"short value", "01 02 10", "declares 2 bytes, only 1 remain"},
		{"short unknown", "42 05 00 00", "declares 5 bytes"},
		{"wrong size byte", "06 02 04 00", "bMinPINSize (tag 0x06) has length 2, want 1"},
		{"wrong size word", "0B 01 E6", "wIdVendor"},
		{"wrong size dword", "0A 02 00 00", "dwMaxAPDUDataSize"},
		{"duplicate", "07 01 08 07 01 0F", "sent twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseTLVProperties(hx(t, c.in))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want ErrMalformed containing %q", err, c.msg)
			}
		})
	}
	// Unknown tags may repeat.
	p, err := ParseTLVProperties(hx(t, "42 00 42 01 01"))
	if err != nil || len(p.Unknown) != 2 {
		t.Fatalf("repeated unknown: %+v %v", p, err)
	}
}
