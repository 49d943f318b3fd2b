package translog

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// TestCheckCosignatures: a witness's line verifies with its key; a line
// by a key not given is returned unchecked; a changed signature, a
// changed key ID and a line that is not base64 are errors naming the
// witness; the log's own line is left to Open.
func TestCheckCosignatures(t *testing.T) {
	wendy, walter := newSigner(t), newSigner(t)
	signed := []byte(katBody + "\n— ceremony/CEREMONIES/0123456789abcdef AAAAAAAA\n")
	line := func(s Signer) string {
		l, err := CosignLine(signed, WitnessName(s.Public()), s, time.Unix(katTime, 0))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	wl, tl := line(wendy), line(walter)
	both := append(append([]byte{}, signed...), wl+tl...)
	n, unknown, err := CheckCosignatures(both, []ed25519.PublicKey{wendy.Public()})
	if err != nil || n != 1 || len(unknown) != 1 || unknown[0] != WitnessName(walter.Public()) {
		t.Fatalf("Wendy's key given: %d verified, unknown %v, %v; want 1 and Walter's unchecked", n, unknown, err)
	}
	name := WitnessName(wendy.Public())
	sig := strings.TrimSuffix(strings.Fields(wl)[2], "\n")
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for what, bad := range map[string]string{
		"signature changed": "— " + name + " " + flip(sig, len(sig)-10) + "\n",
		"key ID changed":    "— " + name + " " + flip(sig, 1) + "\n",
		"not base64":        "— " + name + " not*base64\n",
	} {
		_, _, err := CheckCosignatures(append(append([]byte{}, signed...), bad...), []ed25519.PublicKey{wendy.Public()})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming %s", what, err, name)
		}
	}
}
