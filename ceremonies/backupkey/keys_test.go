package backupkey_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
)

func TestParseQuorum(t *testing.T) {
	cases := []struct {
		in      string
		k, n    int
		wantErr string
	}{
		{"2-of-3", 2, 3, ""},
		{"3-of-5", 3, 5, ""},
		{"4-of-7", 4, 7, ""},
		{"2-of-2", 2, 2, ""},
		{"1-of-3", 0, 0, "at least 2"},
		{"4-of-3", 0, 0, "n must be at least k"},
		{"3-of-17", 0, 0, "at most 16"},
		{"2of3", 0, 0, "k-of-n"},
		{"2-of-3x", 0, 0, "k-of-n"},
		{"", 0, 0, "k-of-n"},
		{"-2-of-3", 0, 0, ""},
	}
	for _, tc := range cases {
		q, err := backupkey.ParseQuorum(tc.in)
		if tc.k > 0 {
			if err != nil || q.Threshold != tc.k || q.Shares != tc.n {
				t.Errorf("ParseQuorum(%q) = %v, %v", tc.in, q, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseQuorum(%q) accepted %v", tc.in, q)
		} else if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseQuorum(%q) error %q does not say %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestSplitCombineAndKCV(t *testing.T) {
	s, err := backupkey.NewSplit(rand.Reader, backupkey.Quorum{Threshold: 3, Shares: 5})
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte(nil), s.Key...)
	kcv, _ := backupkey.KCV(key)
	if kcv != s.KCV || len(kcv) != 6 {
		t.Fatalf("kcv %q, split says %q", kcv, s.KCV)
	}
	parts := func(idx ...int) [][]byte {
		var out [][]byte
		for _, i := range idx {
			out = append(out, append([]byte(nil), s.Records[i-1].Share...))
		}
		return out
	}
	got, _, err := backupkey.Combine(parts(5, 1, 3), s.KCV)
	if err != nil || !bytes.Equal(got.Bytes(), key) {
		t.Fatalf("combine of 3 shares in any order: %v", err)
	}
	// Too few shares: vault's Combine returns a wrong key silently; the KCV
	// check catches it.
	if _, _, err := backupkey.Combine(parts(1, 2), s.KCV); err == nil {
		t.Fatal("2 shares of a 3-of-5 set rebuilt a key that passed the KCV")
	}
	// A corrupt share.
	bad := parts(1, 2, 3)
	bad[1][4] ^= 0x80
	if _, _, err := backupkey.Combine(bad, s.KCV); err == nil {
		t.Fatal("a corrupt share passed the KCV check")
	}
	// Shares of two different splits.
	other, _ := backupkey.NewSplit(rand.Reader, backupkey.Quorum{Threshold: 3, Shares: 5})
	mixed := append(parts(1, 2), other.Records[2].Share)
	if _, _, err := backupkey.Combine(mixed, s.KCV); err == nil {
		t.Fatal("shares of two key sets passed the KCV check")
	}
	// Commitments differ per index and bind the share.
	c1 := backupkey.Commitment(s.KeySetID, 1, s.Records[0].Share)
	if c1 != s.Commitments[0] || c1 == backupkey.Commitment(s.KeySetID, 2, s.Records[0].Share) {
		t.Fatal("commitment does not bind the index")
	}
	got.Release()
	if got.Bytes() != nil {
		t.Fatal("the rebuilt key's buffer is still readable after Release")
	}
	s.Wipe()
	if s.Key != nil || s.Records[0].Share != nil {
		t.Fatal("Wipe left the key or a share reachable")
	}
	s.Wipe() // twice is safe
}

func TestRecordRoundTripAndRefusals(t *testing.T) {
	s, _ := backupkey.NewSplit(rand.Reader, backupkey.Quorum{Threshold: 2, Shares: 3})
	b, err := backupkey.EncodeRecord(s.Records[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 255 {
		t.Fatalf("record is %d bytes, more than a short APDU carries", len(b))
	}
	r, err := backupkey.DecodeRecord(b)
	if err != nil || r.Index != 2 || r.Threshold != 2 || r.Shares != 3 || !bytes.Equal(r.Share, s.Records[1].Share) || r.KeySetID != s.KeySetID {
		t.Fatalf("round trip: %+v, %v", r, err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	cases := map[string][]byte{
		"empty":         {},
		"truncated":     b[:len(b)-1],
		"torn":          b[:20],
		"other data":    mut(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version 2":     mut(func(b []byte) []byte { b[4] = 2; return b }),
		"flipped bit":   mut(func(b []byte) []byte { b[30] ^= 1; return b }),
		"trailing byte": append(append([]byte(nil), b...), 0),
	}
	for name, in := range cases {
		_, err := backupkey.DecodeRecord(in)
		if !errors.Is(err, backupkey.ErrBadRecord) {
			t.Errorf("%s: err %v, want ErrBadRecord", name, err)
		}
	}
	bad := *s.Records[0]
	bad.Index = 4
	if _, err := backupkey.EncodeRecord(&bad); err == nil {
		t.Error("index 4 of 3 encoded")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	s, _ := backupkey.NewSplit(rand.Reader, backupkey.Quorum{Threshold: 2, Shares: 3})
	b, _ := backupkey.EncodeRecord(s.Records[0])
	f.Add(b)
	f.Add(b[:20])
	f.Add([]byte("CBKS"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := backupkey.DecodeRecord(in)
		if err != nil {
			if strings.Contains(err.Error(), string(in)) && len(in) > 8 {
				t.Fatalf("the error echoes the input: %v", err)
			}
			return
		}
		out, err := backupkey.EncodeRecord(r)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("a decoded record does not re-encode to its bytes: %v", err)
		}
	})
}
