package cardemu

import (
	"bytes"
	"testing"
)

func TestATR(t *testing.T) {
	want := apdu(t, "3B DA 18 FF 81 B1 FE 75 1F 03 00 31 C5 73 C0 01 80 05 90 00 C9")
	e := newEnv(t, Options{})
	got := e.card.ATR()
	if !bytes.Equal(got, want) {
		t.Fatalf("ATR % X, want % X", got, want)
	}
	got[0] = 0 // a copy
	if e.card.ATR()[0] != 0x3B {
		t.Error("ATR returns the package's buffer")
	}
	// 5F52 mirrors the historical bytes (the ATR's last 11 bytes but TCK).
	mustSW(t, e.card, "00 A4 04 00 06 D2 76 00 01 24 01", 0x9000)
	if hb := mustSW(t, e.card, "00 CA 5F 52 00", 0x9000); !bytes.Equal(hb, want[10:20]) {
		t.Errorf("5F52 % X, want % X", hb, want[10:20])
	}
}

// TestGnuPGSequence replays what scdaemon sends at startup and for
// gpg --card-status (LEARN), and what openpgp-tool reads, checking the
// answers those tools need.
func TestGnuPGSequence(t *testing.T) {
	e := newEnv(t, Options{Serial: 1})
	c := e.card
	steps := []struct {
		name string
		cmd  string
		sw   uint16
		len  int // expected data length; -1: any
	}{
		{"MF probe", "00 A4 00 0C 02 3F 00", 0x6A82, 0},
		{"select (GnuPG)", "00 A4 04 00 06 D2 76 00 01 24 01", 0x9000, 0},
		{"select (OpenSC, Le)", "00 A4 04 00 06 D2 76 00 01 24 01 00", 0x9000, 0},
		{"unknown AID", "00 A4 04 00 05 A0 00 00 05 27", 0x6A82, 0},
		{"AID", "00 CA 00 4F 00", 0x9000, 16},
		{"historical bytes", "00 CA 5F 52 00", 0x9000, 10},
		{"PW status", "00 CA 00 C4 00", 0x9000, 7},
		{"application related", "00 CA 00 6E 00", 0x9000, -1},
		{"login data", "00 CA 00 5E 00", 0x9000, 0},
		{"cardholder", "00 CA 00 65 00", 0x9000, -1},
		{"URL", "00 CA 5F 50 00", 0x9000, 0},
		{"security support template", "00 CA 00 7A 00", 0x9000, 7},
		{"fingerprints", "00 CA 00 C5 00", 0x9000, 60},
		{"CA fingerprints", "00 CA 00 C6 00", 0x9000, 60},
		{"generation times", "00 CA 00 CD 00", 0x9000, 12},
		{"key information", "00 CA 00 DE 00", 0x9000, 6},
		{"extended capabilities", "00 CA 00 C0 00", 0x9000, 10},
		{"algorithm attributes", "00 CA 00 C1 00", 0x9000, 6},
		{"algorithm attributes dec (ECDH P-256)", "00 CA 00 C2 00", 0x9000, 9},
		{"algorithm attributes aut", "00 CA 00 C3 00", 0x9000, 6},
		{"KDF: none", "00 CA 00 F9 00", 0x6A88, 0},
		{"UIF: none", "00 CA 00 D6 00", 0x6A88, 0},
		{"UIF: none", "00 CA 00 D8 00", 0x6A88, 0},
		{"algorithm information: none", "00 CA 00 FA 00", 0x6A88, 0},
		{"private DO 0101", "00 CA 01 01 00", 0x9000, 0},
		{"private DO 0102", "00 CA 01 02 00", 0x9000, 0},
		{"certificate", "00 CA 7F 21 00", 0x9000, 0},
		{"select data 7F21", "00 A5 00 04 06 60 04 5C 02 7F 21", 0x9000, 0},
		{"select data occurrence 1", "00 A5 01 04 06 60 04 5C 02 7F 21", 0x6A88, 0},
		{"public key sig", "00 47 81 00 02 B6 00 00", 0x6A88, 0},
		{"public key dec", "00 47 81 00 02 B8 00 00", 0x6A88, 0},
		{"public key aut", "00 47 81 00 02 A4 00 00", 0x6A88, 0},
		{"public key (GoKey form)", "00 47 81 00 05 B6 03 84 01 01 00", 0x6A88, 0},
		{"clear PW1 status", "00 20 FF 81", 0x9000, 0},
		{"clear PW3 status", "00 20 FF 83", 0x9000, 0},
		{"odd GET DATA", "00 CB 3F FF 00", 0x6D00, 0},
	}
	for _, s := range steps {
		data, sw := send(t, c, s.cmd)
		if sw != s.sw {
			t.Errorf("%s (%s): SW %04X, want %04X", s.name, s.cmd, sw, s.sw)
		}
		if s.len >= 0 && len(data) != s.len {
			t.Errorf("%s: %d bytes, want %d: % X", s.name, len(data), s.len, data)
		}
	}

	// 6E: outer tag, 4F, 5F52 and 73 with C0..C6, CD, DE; no 7F66, no 7F74.
	ard := mustSW(t, c, "00 CA 00 6E 00", 0x9000)
	if ard[0] != 0x6E {
		t.Fatalf("6E starts % X", ard[:2])
	}
	if len(ard) > 256 {
		t.Errorf("6E is %d bytes, more than a short response", len(ard))
	}
	inner, ok := tlvFind(t, ard, 0x6E)
	if !ok || len(inner)+3 != len(ard) {
		t.Fatalf("6E is not one well-formed TLV: % X", ard)
	}
	aid := mustSW(t, c, "00 CA 00 4F 00", 0x9000)
	c4 := mustSW(t, c, "00 CA 00 C4 00", 0x9000)
	for _, want := range []struct {
		tag   uint16
		value []byte // nil: only the length is checked
		n     int
	}{
		{0x4F, aid, 16}, {0x5F52, historicalBytes, 10}, {0xC0, extendedCapabilities, 10},
		{0xC1, rsa2048, 6}, {0xC2, apdu(t, "12 2A 86 48 CE 3D 03 01 07"), 9}, {0xC3, rsa2048, 6}, {0xC4, c4, 7},
		{0xC5, make([]byte, 60), 60}, {0xC6, make([]byte, 60), 60}, {0xCD, make([]byte, 12), 12},
		{0xDE, apdu(t, "01 00 02 00 03 00"), 6},
	} {
		v, ok := tlvFind(t, ard, want.tag)
		if !ok || len(v) != want.n || (want.value != nil && !bytes.Equal(v, want.value)) {
			t.Errorf("6E child %X: % X (found %v)", want.tag, v, ok)
		}
	}
	for _, absent := range []uint16{0x7F66, 0x7F74} {
		if _, ok := tlvFind(t, ard, absent); ok {
			t.Errorf("6E has %X", absent)
		}
	}
	if !bytes.Equal(aid, apdu(t, "D2 76 00 01 24 01 03 04 FF FE 00 00 00 01 00 00")) {
		t.Errorf("AID % X", aid)
	}
	if !bytes.Equal(c4, apdu(t, "01 7F 7F 7F 03 00 03")) {
		t.Errorf("C4 % X", c4)
	}

	// 65 with 5B, 5F2D, 5F35; 7A with 93 of 3 bytes.
	ch := mustSW(t, c, "00 CA 00 65 00", 0x9000)
	for _, tag := range []uint16{0x5B, 0x5F2D, 0x5F35} {
		if _, ok := tlvFind(t, ch, tag); !ok {
			t.Errorf("65 lacks %X: % X", tag, ch)
		}
	}
	if v, ok := tlvFind(t, mustSW(t, c, "00 CA 00 7A 00", 0x9000), 0x93); !ok || len(v) != 3 {
		t.Errorf("7A 93: % X", v)
	}
}

func TestCardholderDataWritable(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.card
	mustSW(t, c, "00 A4 04 00 06 D2 76 00 01 24 01", 0x9000)
	mustSW(t, c, "00 DA 00 5B 03 41 3C 42", 0x6982)
	mustSW(t, c, pinAPDU("00 20 00 83", "123456"), 0x9000)
	mustSW(t, c, "00 DA 00 5B 03 41 3C 42", 0x9000)
	mustSW(t, c, "00 DA 5F 2D 02 65 6E", 0x9000)
	mustSW(t, c, "00 DA 5F 35 01 39", 0x9000)
	mustSW(t, c, "00 DA 5F 35 02 39 39", 0x6700)
	mustSW(t, c, "00 DA 00 C4 01 00", 0x6A88) // not writable here
	ch := mustSW(t, c, "00 CA 00 65 00", 0x9000)
	want := apdu(t, "65 0E 5B 03 41 3C 42 5F 2D 02 65 6E 5F 35 01 39")
	if !bytes.Equal(ch, want) {
		t.Errorf("65 = % X, want % X", ch, want)
	}
}
