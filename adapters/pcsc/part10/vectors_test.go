package part10

import (
	"bytes"
	"testing"
)

// Vectors A–E: PIN_VERIFY_STRUCTURE (A, B, C) and PIN_MODIFY_STRUCTURE
// (D, E) inputs (PC/SC part 10; field layout as in pcsc-lite's reader.h),
// as CCID's examples/scardcontrol.c (A, E) and GnuPG's scd/apdu.c
// pcsc_pinpad_verify (B, C) and pcsc_pinpad_modify (D) build them.
const (
	vectorA = "00 00 82 08 00 08 04 07 01 09 04 00 00 00 00 0D 00 00 00 | 00 20 00 00 08 30 30 30 30 00 00 00 00"
	vectorB = "00 00 82 00 00 0F 06 02 01 09 04 00 00 00 05 05 00 00 00 | 00 20 00 81 00"
	vectorC = "00 00 82 06 00 0F 06 02 01 09 04 00 00 00 0B 0B 00 00 00 | 00 20 00 82 06 FF FF FF FF FF FF"
	vectorD = "00 00 82 00 00 00 00 0F 06 03 02 03 09 04 00 01 02 00 00 05 05 00 00 00 | 00 24 00 81 00"
	vectorE = "00 00 82 04 00 00 04 08 04 03 07 03 09 04 00 01 02 00 00 00 0D 00 00 00 | 00 24 00 00 08 30 30 30 30 30 30 30 30"
)

func TestVectorLengths(t *testing.T) {
	for name, c := range map[string]struct {
		hex  string
		want int
	}{"A": {vectorA, 32}, "B": {vectorB, 24}, "C": {vectorC, 30}, "D": {vectorD, 29}, "E": {vectorE, 37}} {
		if got := len(hx(t, c.hex)); got != c.want {
			t.Errorf("vector %s: %d bytes, want %d", name, got, c.want)
		}
	}
}

func TestEncodeVerifyStructureVectorA(t *testing.T) {
	// CCID examples/scardcontrol.c: defaults min 4, max 8, validation 7,
	// ISO VERIFY 00 20 00 00 with an 8-byte block "0000\0\0\0\0".
	got, err := EncodeVerifyStructure(VerifyStructure{
		FormatString:             0x82,
		PINBlockString:           0x08,
		PINLengthFormat:          0x00,
		PINMaxExtraDigit:         4<<8 | 8,
		EntryValidationCondition: 0x07,
		NumberMessage:            0x01,
		LangID:                   0x0409, // see TestLangIDIsWrittenLittleEndian
		Data:                     hx(t, "00 20 00 00 08 30 30 30 30 00 00 00 00"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := hx(t, vectorA); !bytes.Equal(got, want) {
		t.Fatalf("vector A\n got %s\nwant %s", spaced(got), spaced(want))
	}
}

func TestEncodeModifyStructureVectorE(t *testing.T) {
	// CCID examples/scardcontrol.c MODIFY: offsets 0/4, Lc 08, 2×4 '0'.
	got, err := EncodeModifyStructure(ModifyStructure{
		FormatString:             0x82,
		PINBlockString:           0x04,
		InsertionOffsetOld:       0x00,
		InsertionOffsetNew:       0x04,
		PINMaxExtraDigit:         4<<8 | 8,
		ConfirmPIN:               0x03,
		EntryValidationCondition: 0x07,
		NumberMessage:            0x03,
		LangID:                   0x0409,
		MsgIndex1:                0x00,
		MsgIndex2:                0x01,
		MsgIndex3:                0x02,
		Data:                     hx(t, "00 24 00 00 08 30 30 30 30 30 30 30 30"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := hx(t, vectorE); !bytes.Equal(got, want) {
		t.Fatalf("vector E\n got %s\nwant %s", spaced(got), spaced(want))
	}
}

// scardcontrol.c assigns wLangId = 0x0904 to a host-order uint16, which a
// little-endian host sends as 04 09; vectors A and E carry 09 04, i.e.
// LangID 0x0409. LangID is a number written little-endian.
func TestLangIDIsWrittenLittleEndian(t *testing.T) {
	for _, c := range []struct {
		id   uint16
		want [2]byte
	}{{0x0409, [2]byte{0x09, 0x04}}, {0x0904, [2]byte{0x04, 0x09}}} {
		b, err := EncodeVerifyStructure(VerifyStructure{LangID: c.id, Data: []byte{0, 0x20, 0, 0x81}})
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]byte{b[9], b[10]}; got != c.want {
			t.Errorf("LangID %04X: bytes % X, want % X", c.id, got, c.want)
		}
	}
}

func TestEncodeVerifyGnuPG(t *testing.T) {
	cases := []struct {
		name string
		p    VerifyParams
		want string
	}{
		{"B PW1 variable", VerifyParams{MinLen: 6, MaxLen: 15, PINRef: PW1Sign}, vectorB},
		{"B' PW3 variable", VerifyParams{MinLen: 8, MaxLen: 15, PINRef: PW3Admin},
			"00 00 82 00 00 0F 08 02 01 09 04 00 00 00 05 05 00 00 00 | 00 20 00 83 00"},
		{"B'' min==max sets max-size-reached", VerifyParams{MinLen: 6, MaxLen: 6, PINRef: PW1Sign},
			"00 00 82 00 00 06 06 03 01 09 04 00 00 00 05 05 00 00 00 | 00 20 00 81 00"},
		{"C fixed 6", VerifyParams{MinLen: 6, MaxLen: 15, FixedLen: 6, PINRef: PW1Other}, vectorC},
		{"SPR532 no Lc", VerifyParams{MinLen: 6, MaxLen: 15, PINRef: PW1Sign, OmitLc: true},
			"00 00 82 00 00 0F 06 02 01 09 04 00 00 00 04 04 00 00 00 | 00 20 00 81"},
		{"timeout", VerifyParams{TimeoutSec: 30, MinLen: 6, MaxLen: 15, PINRef: PW1Sign},
			"1E 00 82 00 00 0F 06 02 01 09 04 00 00 00 05 05 00 00 00 | 00 20 00 81 00"},
		{"BCD fixed 5 → 3-byte block", VerifyParams{MinLen: 4, MaxLen: 8, FixedLen: 5, Format: FormatBCD, PINRef: PW1Sign},
			"00 00 81 03 00 08 04 02 01 09 04 00 00 00 08 08 00 00 00 | 00 20 00 81 03 FF FF FF"},
		{"binary fixed 4", VerifyParams{MinLen: 4, MaxLen: 4, FixedLen: 4, Format: FormatBinary, PINRef: PW1Sign},
			"00 00 80 04 00 04 04 03 01 09 04 00 00 00 09 09 00 00 00 | 00 20 00 81 04 FF FF FF FF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := EncodeVerify(c.p)
			if err != nil {
				t.Fatal(err)
			}
			if want := hx(t, c.want); !bytes.Equal(got, want) {
				t.Fatalf("\n got %s\nwant %s", spaced(got), spaced(want))
			}
		})
	}
}

func TestEncodeModifyGnuPG(t *testing.T) {
	cases := []struct {
		name string
		p    ModifyParams
		want string
	}{
		{"D PW1 variable", ModifyParams{MinLen: 6, MaxLen: 15, PINRef: PW1Sign}, vectorD},
		{"PW3 variable", ModifyParams{MinLen: 8, MaxLen: 15, PINRef: PW3Admin},
			"00 00 82 00 00 00 00 0F 08 03 02 03 09 04 00 01 02 00 00 05 05 00 00 00 | 00 24 00 83 00"},
		// GnuPG: bInsertionOffsetNew = fixedlen, Lc = 2·fixedlen,
		// bTeoPrologue[2] = ulDataLength = 2·fixedlen + 5.
		{"fixed 6", ModifyParams{MinLen: 6, MaxLen: 15, FixedLen: 6, PINRef: PW1Sign},
			"00 00 82 06 00 00 06 0F 06 03 02 03 09 04 00 01 02 00 00 11 11 00 00 00 | 00 24 00 81 0C FF FF FF FF FF FF FF FF FF FF FF FF"},
		{"SPR532 no Lc", ModifyParams{MinLen: 6, MaxLen: 15, PINRef: PW1Sign, OmitLc: true},
			"00 00 82 00 00 00 00 0F 06 03 02 03 09 04 00 01 02 00 00 04 04 00 00 00 | 00 24 00 81"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := EncodeModify(c.p)
			if err != nil {
				t.Fatal(err)
			}
			if want := hx(t, c.want); !bytes.Equal(got, want) {
				t.Fatalf("\n got %s\nwant %s", spaced(got), spaced(want))
			}
		})
	}
}

// The CCID driver refuses an input shorter than 19+4 / 24+4 bytes or whose
// ulDataLength does not match; every encoding must satisfy both.
func TestEncodingsSatisfyCCIDLengthChecks(t *testing.T) {
	for minLen := byte(1); minLen <= 20; minLen++ {
		for _, maxLen := range []byte{minLen, 15, 25, MaxPINLen} {
			if maxLen < minLen {
				continue
			}
			for fixed := byte(0); fixed <= MaxFixedLen; fixed++ {
				if fixed != 0 && (fixed < minLen || fixed > maxLen) {
					continue
				}
				for _, f := range []PINFormat{FormatASCII, FormatBCD, FormatBinary} {
					v, err := EncodeVerify(VerifyParams{MinLen: minLen, MaxLen: maxLen, FixedLen: fixed, Format: f, PINRef: PW1Sign})
					if err != nil {
						t.Fatalf("verify %d/%d/%d/%v: %v", minLen, maxLen, fixed, f, err)
					}
					if len(v) < 23 || int(le32(v[15:19]))+VerifyHeaderLen != len(v) || int(v[14]) != len(v)-VerifyHeaderLen {
						t.Fatalf("verify %d/%d/%d/%v: inconsistent % X", minLen, maxLen, fixed, f, v)
					}
					m, err := EncodeModify(ModifyParams{MinLen: minLen, MaxLen: maxLen, FixedLen: fixed, Format: f, PINRef: PW3Admin})
					if err != nil {
						t.Fatalf("modify %d/%d/%d/%v: %v", minLen, maxLen, fixed, f, err)
					}
					if len(m) < 28 || int(le32(m[20:24]))+ModifyHeaderLen != len(m) || int(m[19]) != len(m)-ModifyHeaderLen {
						t.Fatalf("modify %d/%d/%d/%v: inconsistent % X", minLen, maxLen, fixed, f, m)
					}
					if m[6] != v[3] || m[ModifyHeaderLen+4] != 2*v[3] {
						t.Fatalf("modify %d/%d/%d/%v: new-PIN offset %d / Lc %d for block %d", minLen, maxLen, fixed, f, m[6], m[ModifyHeaderLen+4], v[3])
					}
				}
			}
		}
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestStructureAllowsAdjusting(t *testing.T) {
	s, err := VerifyParams{MinLen: 6, MaxLen: 15, PINRef: PW1Sign}.Structure()
	if err != nil {
		t.Fatal(err)
	}
	s.LangID = 0x0407 // German built-in messages
	b, err := EncodeVerifyStructure(s)
	if err != nil {
		t.Fatal(err)
	}
	want := hx(t, vectorB)
	want[9], want[10] = 0x07, 0x04
	if !bytes.Equal(b, want) {
		t.Fatalf("\n got %s\nwant %s", spaced(b), spaced(want))
	}
}

func TestEncodeStructureCopiesData(t *testing.T) {
	data := []byte{0, 0x20, 0, 0x81, 0}
	b, err := EncodeVerifyStructure(VerifyStructure{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	data[3] = 0x83
	if b[VerifyHeaderLen+3] != 0x81 {
		t.Fatal("encoding aliases the caller's Data")
	}
}
