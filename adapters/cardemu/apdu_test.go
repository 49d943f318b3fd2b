package cardemu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

const selectCmd = "00 A4 04 00 06 D2 76 00 01 24 01"

// TestProcessStatusWords checks the answer to single commands on a selected
// card, with the PINs named in verified.
func TestProcessStatusWords(t *testing.T) {
	tests := []struct {
		name     string
		verified []string // commands run first, each must answer 9000
		cmd      string
		sw       uint16
	}{
		{"too short", nil, "00 CA 00", 0x6700},
		{"empty", nil, "", 0x6700},
		{"Lc larger than data", nil, "00 DA 01 01 05 41", 0x6700},
		{"Lc smaller than data", nil, "00 DA 01 01 01 41 42 43", 0x6700},
		{"extended length", nil, "00 CA 00 4F 00 00 00", 0x6700},
		{"class 80", nil, "80 CA 00 4F 00", 0x6E00},
		{"secure messaging class", nil, "0C CA 00 4F 00", 0x6E00},
		{"unknown instruction", nil, "00 E8 00 00", 0x6D00},
		{"GET RESPONSE with nothing pending", nil, "00 C0 00 00 00", 0x6985},
		{"unknown DO", nil, "00 CA 12 34 00", 0x6A88},
		{"Le too small", nil, "00 CA 00 4F 08", 0x6C10},
		{"verify bad P2", nil, "00 20 00 84 02 31 32", 0x6B00},
		{"verify bad P1", nil, "00 20 01 83 02 31 32", 0x6B00},
		{"verify clear with data", nil, "00 20 FF 83 01 31", 0x6700},
		{"verify status unverified", nil, "00 20 00 83", 0x63C3},
		{"verify status verified", []string{pinAPDU("00 20 00 83", "123456")}, "00 20 00 83", 0x9000},
		{"change with 82", nil, "00 24 00 82 02 31 32", 0x6B00},
		{"change bad P1", nil, "00 24 01 81 02 31 32", 0x6B00},
		{"put unknown DO", []string{pinAPDU("00 20 00 83", "123456")}, "00 DA 12 34 01 00", 0x6A88},
		{"put name too long", []string{pinAPDU("00 20 00 83", "123456")}, "00 DA 00 5B 28 " + strings.Repeat("41 ", 40), 0x6700},
		{"reset retry with RC", nil, "00 2C 00 81 0C 31 32 33 34 35 36 31 32 33 34 35 36", 0x6983},
		{"reset retry without PW3", nil, pinAPDU("00 2C 02 81", "654321"), 0x6982},
		{"reset retry bad P2", nil, pinAPDU("00 2C 02 83", "654321"), 0x6B00},
		{"reset retry short PIN", []string{pinAPDU("00 20 00 83", "123456")}, pinAPDU("00 2C 02 81", "12345"), 0x6A80},
		{"sign without PIN", nil, "00 2A 9E 9A 02 01 02 00", 0x6982},
		{"sign with 82 only", []string{pinAPDU("00 20 00 82", "123456")}, "00 2A 9E 9A 02 01 02 00", 0x6982},
		{"sign with no key", []string{pinAPDU("00 20 00 81", "123456")}, "00 2A 9E 9A 02 01 02 00", 0x6A88},
		{"decipher with no key", []string{pinAPDU("00 20 00 82", "123456")}, "00 2A 80 86 02 00 01 00", 0x6A88},
		{"internal authenticate without PIN", nil, "00 88 00 00 02 01 02 00", 0x6982},
		{"PSO bad P1P2", nil, "00 2A 00 00 02 01 02", 0x6B00},
		{"generate without PW3", nil, "00 47 80 00 02 B6 00 00", 0x6982},
		{"generate not supported", []string{pinAPDU("00 20 00 83", "123456")}, "00 47 80 00 02 B6 00 00", 0x6A81},
		{"generate bad CRT", nil, "00 47 81 00 02 99 00 00", 0x6A80},
		{"generate bad P1", nil, "00 47 82 00 02 B6 00 00", 0x6B00},
		{"generate bad P2", nil, "00 47 80 01 02 B8 00 00", 0x6B00},
		{"generate decryption key without PW3", nil, "00 47 80 00 02 B8 00 00", 0x6982},
		{"generate decryption key with PW1 only", []string{pinAPDU("00 20 00 82", "123456")}, "00 47 80 00 02 B8 00 00", 0x6982},
		{"generate authentication key", []string{pinAPDU("00 20 00 83", "123456")}, "00 47 80 00 02 A4 00 00", 0x6A81},
		{"generate CRT trailing byte", []string{pinAPDU("00 20 00 83", "123456")}, "00 47 80 00 03 B8 00 00 00", 0x6A80},
		{"generate CRT bad length", []string{pinAPDU("00 20 00 83", "123456")}, "00 47 80 00 02 B8 01 00", 0x6A80},
		{"generate CRT wrong key reference", []string{pinAPDU("00 20 00 83", "123456")}, "00 47 80 00 05 B8 03 84 01 01 00", 0x6A80},
		{"generate no data", []string{pinAPDU("00 20 00 83", "123456")}, "00 47 80 00 00", 0x6A80},
		{"read public key dec (GoKey form), none", nil, "00 47 81 00 05 B8 03 84 01 02 00", 0x6A88},
		{"decipher without PIN", nil, "00 2A 80 86 02 00 01 00", 0x6982},
		{"decipher with PW3 only", []string{pinAPDU("00 20 00 83", "123456")}, "00 2A 80 86 02 00 01 00", 0x6982},
		{"decipher with 81 only", []string{pinAPDU("00 20 00 81", "123456")}, "00 2A 80 86 02 00 01 00", 0x6982},
		{"select data bad P2", nil, "00 A5 00 00 06 60 04 5C 02 7F 21", 0x6B00},
		{"select data bad data", nil, "00 A5 00 04 02 5C 00", 0x6A80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newEnv(t, Options{}).card
			mustSW(t, c, selectCmd, 0x9000)
			for _, pre := range tt.verified {
				mustSW(t, c, pre, 0x9000)
			}
			mustSW(t, c, tt.cmd, tt.sw)
		})
	}
}

func TestResetRetryCounterUnblocksPW1(t *testing.T) {
	c := newEnv(t, Options{}).card
	mustSW(t, c, selectCmd, 0x9000)
	for _, sw := range []uint16{0x63C2, 0x63C1, 0x63C0, 0x6983} {
		mustSW(t, c, pinAPDU("00 20 00 82", "000000"), sw)
	}
	mustSW(t, c, pinAPDU("00 20 00 83", "123456"), 0x9000)
	mustSW(t, c, pinAPDU("00 2C 02 81", "777777"), 0x9000)
	mustSW(t, c, "00 20 00 82", 0x63C3)
	mustSW(t, c, pinAPDU("00 20 00 82", "123456"), 0x63C2)
	mustSW(t, c, pinAPDU("00 20 00 82", "777777"), 0x9000)
}

func TestLongResponses(t *testing.T) {
	c := newEnv(t, Options{}).card
	mustSW(t, c, selectCmd, 0x9000)
	mustSW(t, c, pinAPDU("00 20 00 83", "123456"), 0x9000)

	// 6Cxx: Le too small for a response of at most 256 bytes.
	ard := mustSW(t, c, "00 CA 00 6E 00", 0x9000)
	_, sw := send(t, c, "00 CA 00 6E 10")
	if want := 0x6C00 | uint16(len(ard)); sw != want {
		t.Fatalf("6E with Le 10: SW %04X, want %04X", sw, want)
	}
	if got := mustSW(t, c, "00 CA 00 6E "+hex.EncodeToString([]byte{byte(len(ard))}), 0x9000); !bytes.Equal(got, ard) {
		t.Fatal("6E with the right Le differs")
	}

	// A 600-byte certificate written by command chaining...
	cert := bytes.Repeat([]byte{0xC7}, 600)
	for i, part := range [][]byte{cert[:254], cert[254:508]} {
		cmd := "10 DA 7F 21 FE " + hex.EncodeToString(part)
		if got := mustSW(t, c, cmd, 0x9000); len(got) != 0 {
			t.Fatalf("chain part %d answered data", i)
		}
	}
	mustSW(t, c, "00 DA 7F 21 5C "+hex.EncodeToString(cert[508:]), 0x9000)

	// ...read back with 61xx and GET RESPONSE.
	got, sw := send(t, c, "00 CA 7F 21 00")
	if sw != 0x6100 || len(got) != 256 {
		t.Fatalf("first part: %d bytes, SW %04X, want 256 bytes and 6100", len(got), sw)
	}
	part, sw := send(t, c, "00 C0 00 00 00")
	if sw != 0x6158 || len(part) != 256 {
		t.Fatalf("second part: %d bytes, SW %04X, want 256 and 6158", len(part), sw)
	}
	got = append(got, part...)
	part = mustSW(t, c, "00 C0 00 00 58", 0x9000)
	got = append(got, part...)
	if !bytes.Equal(got, cert) {
		t.Fatal("certificate read back differs")
	}
	mustSW(t, c, "00 C0 00 00 00", 0x6985) // nothing left

	// Another command drops what is pending.
	send(t, c, "00 CA 7F 21 00")
	mustSW(t, c, "00 CA 00 C4 00", 0x9000)
	mustSW(t, c, "00 C0 00 00 00", 0x6985)

	// A chain interrupted by another command is refused and dropped.
	mustSW(t, c, "10 DA 7F 21 02 01 02", 0x9000)
	mustSW(t, c, "00 DA 01 02 01 01", 0x6883)
	mustSW(t, c, "00 DA 01 02 01 01", 0x9000)

	// A chain longer than the largest DO is refused.
	chunk := "10 DA 7F 21 FF " + strings.Repeat("AA", 255)
	for range 8 {
		mustSW(t, c, chunk, 0x9000)
	}
	mustSW(t, c, chunk, 0x6700)
	// The certificate is unchanged.
	if got, sw := send(t, c, "00 CA 7F 21 00"); sw != 0x6100 || !bytes.Equal(got, cert[:256]) {
		t.Errorf("certificate after a refused chain: SW %04X", sw)
	}
}

func TestPersistFailureLeavesStateUnchanged(t *testing.T) {
	c := newEnv(t, Options{}).card
	mustSW(t, c, selectCmd, 0x9000)
	mustSW(t, c, pinAPDU("00 20 00 82", "123456"), 0x9000)
	mustSW(t, c, "00 DA 01 01 02 41 42", 0x9000)

	c.mu.Lock()
	c.persist = func([]byte) error { return errors.New("disk full") }
	c.mu.Unlock()
	mustSW(t, c, "00 DA 01 01 02 43 44", 0x6581)
	mustSW(t, c, pinAPDU("00 20 00 83", "000000"), 0x6581)
	mustSW(t, c, pinAPDU("00 24 00 81", "123456654321"), 0x6581)
	if got := mustSW(t, c, "00 CA 01 01 00", 0x9000); string(got) != "AB" {
		t.Errorf("0101 = %q after a failed write", got)
	}
	mustSW(t, c, "00 20 00 83", 0x63C3) // the failed VERIFY spent nothing

	// The image on disk is the last committed state.
	reopened, err := Open(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	if string(reopened.st.dos[0x0101]) != "AB" || reopened.st.triesPW3 != 3 || string(reopened.st.pw1) != "123456" {
		t.Errorf("image changed: 0101 %q, PW3 tries %d", reopened.st.dos[0x0101], reopened.st.triesPW3)
	}
}
