package part10

import (
	"errors"
	"strings"
	"testing"
)

func TestEncodeVerifyRefuses(t *testing.T) {
	ok := VerifyParams{MinLen: 6, MaxLen: 15, PINRef: PW1Sign}
	cases := []struct {
		name  string
		edit  func(*VerifyParams)
		field string
	}{
		{"ref 80", func(p *VerifyParams) { p.PINRef = 0x80 }, "PINRef"},
		{"ref 00", func(p *VerifyParams) { p.PINRef = 0 }, "PINRef"},
		{"ref 84", func(p *VerifyParams) { p.PINRef = 0x84 }, "PINRef"},
		{"min 0", func(p *VerifyParams) { p.MinLen = 0 }, "MinLen"},
		{"min > max", func(p *VerifyParams) { p.MinLen, p.MaxLen = 9, 8 }, "MinLen 9 exceeds MaxLen 8"},
		{"max > 127", func(p *VerifyParams) { p.MaxLen = 128 }, "MaxLen"},
		{"fixed 16", func(p *VerifyParams) { p.MaxLen, p.FixedLen = 20, 16 }, "FixedLen"},
		{"fixed < min", func(p *VerifyParams) { p.FixedLen = 4 }, "FixedLen"},
		{"fixed > max", func(p *VerifyParams) { p.MinLen, p.MaxLen, p.FixedLen = 4, 8, 9 }, "FixedLen"},
		{"OmitLc with fixed", func(p *VerifyParams) { p.FixedLen, p.OmitLc = 6, true }, "OmitLc"},
		{"format", func(p *VerifyParams) { p.Format = 3 }, "Format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ok
			c.edit(&p)
			b, err := EncodeVerify(p)
			if err == nil {
				t.Fatalf("accepted: % X", b)
			}
			if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("error %q: want ErrInvalidParams naming %q", err, c.field)
			}
		})
	}
	if _, err := EncodeVerify(ok); err != nil {
		t.Fatalf("baseline refused: %v", err)
	}
}

func TestEncodeModifyRefuses(t *testing.T) {
	for _, ref := range []byte{0x82, 0x80, 0x84, 0x00} {
		_, err := EncodeModify(ModifyParams{MinLen: 6, MaxLen: 15, PINRef: ref})
		if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), "PINRef") {
			t.Errorf("ref %02X: %v", ref, err)
		}
	}
	_, err := EncodeModify(ModifyParams{MinLen: 6, MaxLen: 5, PINRef: PW1Sign})
	if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), "MinLen") {
		t.Errorf("min > max: %v", err)
	}
	_, err = EncodeModify(ModifyParams{MinLen: 6, MaxLen: 15, FixedLen: 6, OmitLc: true, PINRef: PW1Sign})
	if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), "OmitLc") {
		t.Errorf("OmitLc with fixed: %v", err)
	}
}

func TestEncodeStructureRefusesAPDULength(t *testing.T) {
	for _, n := range []int{0, 3, MaxAPDULen + 1} {
		_, err := EncodeVerifyStructure(VerifyStructure{Data: make([]byte, n)})
		if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), "Data") {
			t.Errorf("verify, %d-byte Data: %v", n, err)
		}
		_, err = EncodeModifyStructure(ModifyStructure{Data: make([]byte, n)})
		if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), "Data") {
			t.Errorf("modify, %d-byte Data: %v", n, err)
		}
	}
	for _, n := range []int{MinAPDULen, MaxAPDULen} {
		if _, err := EncodeVerifyStructure(VerifyStructure{Data: make([]byte, n)}); err != nil {
			t.Errorf("verify, %d-byte Data: %v", n, err)
		}
		if _, err := EncodeModifyStructure(ModifyStructure{Data: make([]byte, n)}); err != nil {
			t.Errorf("modify, %d-byte Data: %v", n, err)
		}
	}
}
