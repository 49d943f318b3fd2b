package part10

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeRoundTripsTheVectors(t *testing.T) {
	for name, v := range map[string]string{"A": vectorA, "B": vectorB, "C": vectorC} {
		b := hx(t, v)
		s, err := DecodeVerifyStructure(b)
		if err != nil {
			t.Fatalf("vector %s: %v", name, err)
		}
		again, err := EncodeVerifyStructure(s)
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("vector %s: decode then encode gives %s, %v", name, spaced(again), err)
		}
	}
	for name, v := range map[string]string{"D": vectorD, "E": vectorE} {
		b := hx(t, v)
		s, err := DecodeModifyStructure(b)
		if err != nil {
			t.Fatalf("vector %s: %v", name, err)
		}
		again, err := EncodeModifyStructure(s)
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("vector %s: decode then encode gives %s, %v", name, spaced(again), err)
		}
	}
}

func TestDecodeRefusesBadLengths(t *testing.T) {
	b := hx(t, vectorB)
	for name, in := range map[string][]byte{
		"short":              b[:VerifyHeaderLen+3],
		"ulDataLength short": append(append([]byte(nil), b...), 0x00),
	} {
		if _, err := DecodeVerifyStructure(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	d := hx(t, vectorD)
	if _, err := DecodeModifyStructure(d[:len(d)-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("modify without its last byte: %v", err)
	}
}

func TestVerifyAPDUInsertsThePIN(t *testing.T) {
	cases := []struct {
		name, structure, pin, want string
	}{
		// GnuPG, variable length: the reader inserts the PIN and sets Lc.
		{"B varlen ASCII", vectorB, "123456", "00 20 00 81 06 31 32 33 34 35 36"},
		// GnuPG, fixed length 6 in an FF block.
		{"C fixed 6", vectorC, "654321", "00 20 00 82 06 36 35 34 33 32 31"},
		// CCID example: 8-byte block "0000\0\0\0\0", left-justified.
		{"A fixed block", vectorA, "1234", "00 20 00 00 08 31 32 33 34 00 00 00 00"},
	}
	for _, c := range cases {
		s, err := DecodeVerifyStructure(hx(t, c.structure))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.APDU([]byte(c.pin))
		if err != nil || !bytes.Equal(got, hx(t, c.want)) {
			t.Errorf("%s: %s, %v; want %s", c.name, spaced(got), err, c.want)
		}
	}
}

func TestVerifyAPDUFormats(t *testing.T) {
	base := VerifyStructure{PINBlockString: 0x04, PINMaxExtraDigit: 4<<8 | 8, Data: hx(t, "00 20 00 81 04 FF FF FF FF")}
	cases := []struct {
		format byte
		pin    string
		want   string
	}{
		{FormatUnitsBytes | FormatBitsBinary, "1234", "00 20 00 81 04 01 02 03 04"},
		{FormatUnitsBytes | FormatBitsBCD, "12345", "00 20 00 81 04 12 34 5F FF"},
		{FormatUnitsBytes | FormatBitsASCII | FormatRightJustify, "12", "00 20 00 81 04 FF FF 31 32"},
		{FormatUnitsBytes | FormatBitsASCII | 1<<formatPositionShift, "123", "00 20 00 81 04 FF 31 32 33"},
	}
	for _, c := range cases {
		s := base
		s.FormatString = c.format
		if c.format&0x03 != FormatBitsBCD {
			s.PINMaxExtraDigit = 2<<8 | 4
		}
		if c.format>>formatPositionShift&0x0F == 1 {
			s.PINBlockString = 0x03
		}
		got, err := s.APDU([]byte(c.pin))
		if err != nil || !bytes.Equal(got, hx(t, c.want)) {
			t.Errorf("format %02X pin %s: %s, %v; want %s", c.format, c.pin, spaced(got), err, c.want)
		}
	}
}

func TestModifyAPDUInsertsBothPINs(t *testing.T) {
	d, err := DecodeModifyStructure(hx(t, vectorD))
	if err != nil {
		t.Fatal(err)
	}
	if !d.AsksCurrentPIN() || !d.AsksConfirmation() {
		t.Fatal("vector D asks for the current PIN and a confirmation")
	}
	got, err := d.APDU([]byte("123456"), []byte("9876543"))
	if want := hx(t, "00 24 00 81 0D 31 32 33 34 35 36 39 38 37 36 35 34 33"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("vector D: %s, %v", spaced(got), err)
	}
	e, err := DecodeModifyStructure(hx(t, vectorE))
	if err != nil {
		t.Fatal(err)
	}
	got, err = e.APDU([]byte("1111"), []byte("2222"))
	if want := hx(t, "00 24 00 00 08 31 31 31 31 32 32 32 32"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("vector E: %s, %v", spaced(got), err)
	}
	// GnuPG's encoder, as the host sends it.
	in, err := EncodeModify(ModifyParams{MinLen: 6, MaxLen: 16, PINRef: PW3Admin})
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeModifyStructure(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err = m.APDU([]byte("123456"), []byte("24681357"))
	if want := hx(t, "00 24 00 83 0E 31 32 33 34 35 36 32 34 36 38 31 33 35 37"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("EncodeModify PW3: %s, %v", spaced(got), err)
	}
}

func TestAPDURefusals(t *testing.T) {
	b, _ := DecodeVerifyStructure(hx(t, vectorB)) // min 6, max 15
	for _, pin := range []string{"12345", "1234567890123456"} {
		if _, err := b.APDU([]byte(pin)); !errors.Is(err, ErrPINLength) {
			t.Errorf("%d digits: %v", len(pin), err)
		}
	}
	if _, err := b.APDU([]byte("12345a")); !errors.Is(err, ErrBadStructure) {
		t.Errorf("a letter: %v", err)
	}
	for name, s := range map[string]VerifyStructure{
		"bit units":    {FormatString: 0x02, PINMaxExtraDigit: 0x0108, Data: hx(t, "00 20 00 81 00")},
		"length field": {FormatString: 0x82, PINBlockString: 0x48, PINMaxExtraDigit: 0x0108, Data: hx(t, "00 20 00 81 08 FF FF FF FF FF FF FF FF")},
		"block past":   {FormatString: 0x82, PINBlockString: 0x08, PINMaxExtraDigit: 0x0108, Data: hx(t, "00 20 00 81 04 FF FF FF FF")},
		"Lc wrong":     {FormatString: 0x82, PINMaxExtraDigit: 0x0108, Data: hx(t, "00 20 00 81 05 FF")},
		"min above":    {FormatString: 0x82, PINMaxExtraDigit: 0x0804, Data: hx(t, "00 20 00 81 00")},
	} {
		if _, err := s.APDU([]byte("1234")); !errors.Is(err, ErrBadStructure) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestReaderStatusIsWhatResponseErrorMaps(t *testing.T) {
	for _, want := range []error{ErrTimeout, ErrCancelled, ErrPINsDiffer, ErrPINLength, ErrBadStructure} {
		sw, ok := ReaderStatus(want)
		if !ok || !errors.Is(ResponseError(sw), want) {
			t.Errorf("%v: %X, %v", want, sw, ok)
		}
	}
	if _, ok := ReaderStatus(errors.New("other")); ok {
		t.Error("an unrelated error has a reader status")
	}
}
