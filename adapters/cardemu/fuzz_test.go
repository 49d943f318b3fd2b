package cardemu

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// FuzzProcess feeds a card a sequence of arbitrary command APDUs (each
// prefixed by its length byte) after SELECT. The card must never panic,
// must always answer at least a status word (nil only for an armed tear),
// and every image it persists must decode back to the same state.
func FuzzProcess(f *testing.F) {
	seq := func(cmds ...string) []byte {
		out := []byte{0} // no tear
		for _, c := range cmds {
			b := apdu(nil, c)
			out = append(out, byte(len(b)))
			out = append(out, b...)
		}
		return out
	}
	verifyPW3 := "00 20 00 83 06 31 32 33 34 35 36"
	verifyPW1 := "00 20 00 82 06 31 32 33 34 35 36"
	generate := "00 47 80 00 02 B8 00 00"
	// PSO:DECIPHER with the P-256 base point G as the other party's key.
	g := "04 6B17D1F2 E12C4247 F8BCE6E5 63A440F2 77037D81 2DEB33A0 F4A13945 D898C296" +
		" 4FE342E2 FE1A7F9B 8EE7EB4A 7C0F9E16 2BCE3357 6B315ECE CBB64068 37BF51F5"
	body := hex.EncodeToString(apdu(nil, "A6 46 7F 49 43 86 41 "+g)) // 72 bytes
	decipher := "00 2A 80 86 48 " + body + " 00"
	for _, s := range [][]byte{
		seq("00 CA 00 6E 00", "00 CA 00 6E 10", "00 CA 00 C4 00"),
		seq(verifyPW3, "00 DA 01 04 03 41 42 43", "00 CA 01 04 00"),
		seq(verifyPW1, "00 DA 01 03 01 41", "00 24 00 81 0C 31 32 33 34 35 36 36 35 34 33 32 31"),
		seq("00 20 00 83 02 30 30", "00 20 00 83 02 30 30", "00 20 00 83 02 30 30", "00 20 00 83"),
		seq(verifyPW3, "10 DA 7F 21 02 01 02", "00 DA 7F 21 02 03 04", "00 CA 7F 21 01", "00 C0 00 00 00"),
		seq(verifyPW3, "00 2C 02 81 06 37 37 37 37 37 37", "00 20 FF 83"),
		append([]byte{0x09}, seq(verifyPW1, "00 DA 01 01 05 41 42 43 44 45")[1:]...),
		{0, 3, 0, 0xCA, 0},
		seq(verifyPW3, generate, "00 47 81 00 02 B8 00 00", verifyPW1, decipher),
		seq(verifyPW1, decipher, verifyPW3, generate, generate, "00 CA 00 DE 00", decipher, "00 47 81 00 05 B8 03 84 01 02 00"),
		seq(verifyPW3, generate, verifyPW1, "10 2A 80 86 20 "+body[:64], "00 2A 80 86 28 "+body[64:]+" 00"),
		seq(verifyPW3, generate, verifyPW1, "00 2A 80 86 49 A6 81 46 7F 49 43 86 41 "+g+" 00", "00 2A 80 86 00"),
		append([]byte{0x05}, seq(verifyPW3, generate, "00 DA 01 04 03 41 42 43", "00 47 81 00 02 B8 00 00")[1:]...),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := Options{}.initialState()
		if err != nil {
			t.Fatal(err)
		}
		c := newCard("fuzz.json", st)
		c.persist = func(img []byte) error {
			got, err := decodeImage(img)
			if err != nil {
				t.Fatalf("persisted an image that does not decode: %v", err)
			}
			again, err := encodeImage(got)
			if err != nil || !bytes.Equal(again, img) {
				t.Fatalf("image does not round-trip: %v", err)
			}
			return nil
		}
		if len(in) == 0 {
			return
		}
		torn := in[0]&1 == 1
		if torn {
			c.TearNextWrite(int(in[0] >> 1))
		}
		in = in[1:]
		if resp := c.Process(apdu(t, selectCmd)); !bytes.Equal(resp, []byte{0x90, 0x00}) {
			t.Fatalf("SELECT answered % X", resp)
		}
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			cmd := in[1 : 1+n]
			in = in[1+n:]
			resp := c.Process(cmd)
			if resp == nil {
				if !torn {
					t.Fatalf("nil response to % X without a tear", cmd)
				}
				torn = false
				continue
			}
			if len(resp) < 2 || len(resp) > 258 {
				t.Fatalf("response of %d bytes to % X", len(resp), cmd)
			}
		}
	})
}
