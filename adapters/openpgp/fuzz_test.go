package openpgp

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzParseResponse(f *testing.F) {
	for _, seed := range [][]byte{nil, {0x90}, {0x90, 0x00}, {1, 2, 3, 0x61, 0x10}, {0x63, 0xC0}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, resp []byte) {
		data, sw, err := ParseResponse(resp)
		if err != nil {
			if len(resp) >= 2 || !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("unexpected error %v for % X", err, resp)
			}
			return
		}
		if len(data) != len(resp)-2 || sw != uint16(resp[len(resp)-2])<<8|uint16(resp[len(resp)-1]) {
			t.Fatalf("bad split of % X: % X %04X", resp, data, sw)
		}
		if err := StatusError(sw, "FUZZ"); err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
	})
}

func FuzzParsePWStatus(f *testing.F) {
	f.Add([]byte{0x01, 0x7F, 0x7F, 0x7F, 0x03, 0x00, 0x03})
	f.Add([]byte{})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParsePWStatus(b)
		if (err == nil) != (len(b) == 7) {
			t.Fatalf("len %d: error %v", len(b), err)
		}
		if err == nil && (st.MaxLenPW1 > 127 || st.TriesPW3 > 255) {
			t.Fatalf("out of range: %+v", st)
		}
	})
}

func FuzzParseAID(f *testing.F) {
	f.Add([]byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01, 0x03, 0x04, 0xFF, 0xFE, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00})
	f.Add([]byte{0xD2, 0x76})
	f.Fuzz(func(t *testing.T, b []byte) {
		aid, err := ParseAID(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v does not wrap ErrMalformedResponse", err)
			}
			return
		}
		if !bytes.Equal(aid.Raw[:], b) || len(aid.SerialString()) != 12 {
			t.Fatalf("bad AID %+v from % X", aid, b)
		}
	})
}

// replay answers each command with the next length-prefixed chunk of its
// input, then with a transport error.
type replay struct{ in []byte }

func (r *replay) Transmit([]byte) ([]byte, error) {
	if len(r.in) == 0 {
		return nil, errTransport
	}
	n := min(int(r.in[0]), len(r.in)-1)
	resp := r.in[1 : 1+n]
	r.in = r.in[1+n:]
	return resp, nil
}

// FuzzClient feeds arbitrary card answers to every Client method: it must
// never panic and never loop forever.
func FuzzClient(f *testing.F) {
	f.Add([]byte{2, 0x90, 0x00})
	f.Add([]byte{2, 0x61, 0x05, 7, 1, 2, 3, 4, 5, 0x90, 0x00})
	f.Add([]byte{2, 0x6C, 0x02, 4, 'o', 'k', 0x90, 0x00})
	f.Add([]byte{2, 0x90, 0x00, 9, 1, 0x7F, 0x7F, 0x7F, 3, 0, 3, 0x90, 0x00})
	f.Add(cat([]byte{72, 0x7F, 0x49, 0x43, 0x86, 0x41}, p256Point, []byte{0x90, 0x00}))
	f.Add(cat([]byte{2, 0x61, 0x46, 70, 0x7F, 0x49, 0x43, 0x86, 0x41}, p256Point))
	f.Add(cat([]byte{67}, p256Point, []byte{0x90, 0x00}))
	f.Fuzz(func(t *testing.T, in []byte) {
		calls := []func(c *Client) error{
			func(c *Client) error { return c.Select() },
			func(c *Client) error { _, err := c.AID(); return err },
			func(c *Client) error { _, err := c.PWStatus(); return err },
			func(c *Client) error { _, _, err := c.RetriesLeft(PW1); return err },
			func(c *Client) error { return c.Verify(PW3, []byte("123456")) },
			func(c *Client) error { _, err := c.ReadPrivateDO(0x0101); return err },
			func(c *Client) error { return c.WritePrivateDO(0x0102, []byte("x")) },
			func(c *Client) error { return c.ChangePIN(PW1, []byte("123456"), []byte("654321")) },
			func(c *Client) error { return c.ClearVerification(PW1Sign) },
			func(c *Client) error { _, err := c.GenerateDecryptionKey(); return err },
			func(c *Client) error { _, err := c.DecryptionPublicKey(); return err },
			func(c *Client) error { _, err := c.DecipherECDH(p256Point); return err },
		}
		for _, call := range calls {
			if err := call(NewClient(&replay{in: append([]byte(nil), in...)})); err != nil && err.Error() == "" {
				t.Fatal("empty error message")
			}
		}
	})
}

// FuzzParseECPublicKey: the decoder never panics, every error wraps
// ErrMalformedResponse, and what it accepts is canonical: re-encoding the
// point gives the input back byte for byte (minimal lengths, nothing else).
func FuzzParseECPublicKey(f *testing.F) {
	f.Add(cat([]byte{0x7F, 0x49, 0x43, 0x86, 0x41}, p256Point))
	f.Add(cat([]byte{0x7F, 0x49, 0x81, 0x83, 0x86, 0x81, 0x80}, pt(128)))
	f.Add(cat([]byte{0x7F, 0x49, 0x82, 0x01, 0x30, 0x86, 0x82, 0x01, 0x2C}, pt(300)))
	f.Add(cat([]byte{0x7F, 0x49, 0x81, 0x43, 0x86, 0x41}, p256Point))
	f.Add([]byte{0x7F, 0x49, 0x08, 0x81, 0x01, 0xC1, 0x82, 0x03, 0x01, 0x00, 0x01})
	f.Add([]byte{0x7F, 0x49, 0x02, 0x86, 0x00})
	f.Add([]byte{0x7F})
	f.Fuzz(func(t *testing.T, b []byte) {
		point, err := ParseECPublicKey(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) || point != nil {
				t.Fatalf("error %v (point % X) for % X", err, point, b)
			}
			return
		}
		if len(point) == 0 {
			t.Fatalf("empty point from % X", b)
		}
		again := AppendTLV(nil, tagPublicKeyDO, AppendTLV(nil, tagECPoint, point))
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted a non-canonical encoding:\n in  % X\n out % X", b, again)
		}
	})
}

// FuzzEncodePSODecipherECDH: every point of 1 to 245 bytes encodes to a
// short case-4 APDU whose data unwraps, strictly, back to the point; other
// lengths are refused with the right error.
func FuzzEncodePSODecipherECDH(f *testing.F) {
	for _, n := range []int{0, 1, 65, 122, 123, 125, 126, 127, 128, 245, 246, 300} {
		f.Add(pt(n))
	}
	f.Fuzz(func(t *testing.T, point []byte) {
		cmd, err := EncodePSODecipherECDH(point)
		switch {
		case len(point) == 0:
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("empty point: %v", err)
			}
			return
		case len(point) > 245:
			if !errors.Is(err, ErrDataTooLong) {
				t.Fatalf("%d-byte point: %v", len(point), err)
			}
			return
		case err != nil:
			t.Fatalf("%d-byte point: %v", len(point), err)
		}
		if !bytes.Equal(cmd[:4], []byte{0x00, 0x2A, 0x80, 0x86}) || int(cmd[4]) != len(cmd)-6 || cmd[len(cmd)-1] != 0x00 {
			t.Fatalf("not a case-4 PSO:DECIPHER: % X", cmd)
		}
		data := cmd[5 : len(cmd)-1]
		for _, tag := range []uint16{tagCipherDO, tagPublicKeyDO, tagECPoint} {
			if data, err = onlyTLV(data, tag); err != nil {
				t.Fatalf("tag %X: %v in % X", tag, err, cmd)
			}
		}
		if !bytes.Equal(data, point) {
			t.Fatalf("point % X came back as % X", point, data)
		}
	})
}
