package translog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The known answers come from another implementation of C2SP
// tlog-cosignature: github.com/transparency-dev/formats v0.1.1,
// note.NewSignerForCosignatureV1 over the Ed25519 key whose seed is 32
// bytes of 0x07 (note.GenerateKey named "witness.example/wendy"), and a
// cosignature/v1 verifier key from that module's tests.
const (
	katName = "witness.example/wendy"
	katBody = "ceremony/CEREMONIES/0123456789abcdef\n42\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n"
	katLine = "— witness.example/wendy loQ+NwAAAABrD6dnYQOnicykfPBg6DCU6noFd/KBdV2P/FbP4p64FJtOyUpdCQQvwE4LX65TiVJTIk9irE7Hc0gBkb9GFxQUiX5LBQ==\n"
	katTime = 0x6b0fa767
	// A cosignature/v1 verifier key: name, key ID, base64(0x04 || key).
	katVkey = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
)

func TestCosignatureKnownAnswers(t *testing.T) {
	key := keySigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)))
	if got := CosignKeyHash(katName, key.Public()); got != 0x96843e37 {
		t.Fatalf("key ID %08x, want 96843e37", got)
	}
	parts := strings.Split(katVkey, "+")
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || raw[0] != 0x04 {
		t.Fatal(err)
	}
	if got := CosignKeyHash(parts[0], ed25519.PublicKey(raw[1:])); got != 0xda77ade7 {
		t.Fatalf("key ID of %s: %08x", katVkey, got)
	}
	signed := []byte(katBody + "\n— ceremony/CEREMONIES/0123456789abcdef AAAAAAAA\n")
	line, err := CosignLine(signed, katName, key, time.Unix(katTime, 0))
	if err != nil || line != katLine {
		t.Fatalf("co-signature line:\n%q, %v\nwant\n%q", line, err, katLine)
	}
	// The other implementation's line verifies, with its time.
	c, err := VerifyCosignature([]byte(katBody+"\n"+katLine), katName, key.Public())
	if err != nil || c.Time.Unix() != katTime {
		t.Fatalf("verify the known co-signature: %+v, %v", c, err)
	}
	// A changed checkpoint, another key, no co-signature: each refused.
	changed := strings.Replace(katBody, "\n42\n", "\n43\n", 1)
	if _, err := VerifyCosignature([]byte(changed+"\n"+katLine), katName, key.Public()); err == nil || errors.Is(err, ErrNotCosigned) {
		t.Fatalf("a changed checkpoint: %v", err)
	}
	if _, err := VerifyCosignature([]byte(katBody+"\n"+katLine), katName, newSigner(t).Public()); !errors.Is(err, ErrNotCosigned) {
		t.Fatalf("another key: %v", err)
	}
}

// A witness co-signs the newest checkpoint of a log; the co-signature is
// stored next to it and Current carries it, and it verifies together with
// the log's own signature.
func TestLogCosign(t *testing.T) {
	s, w := newSigner(t), newSigner(t)
	dir := t.TempDir()
	l := NewLog(dir, "CEREMONIES", s)
	rs := stream(9)
	_, _, path, err := l.Checkpoint(t.Context(), rs, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := l.Cosign(w, 10, time.Unix(200, 0)); err == nil || !strings.Contains(err.Error(), "covers 9") {
		t.Fatalf("co-signing a checkpoint that does not cover the ceremony: %v", err)
	}
	cp, cpFile, file, err := l.Cosign(w, 9, time.Unix(200, 0))
	if err != nil || cpFile != path || cp.Size != 9 || filepath.Dir(file) != filepath.Join(dir, DirName) {
		t.Fatalf("Cosign: %+v %s %s %v", cp, cpFile, file, err)
	}
	_, signed, stored, err := l.Current()
	if err != nil || !stored {
		t.Fatal(stored, err)
	}
	if _, err := Open(signed, s.Public()); err != nil {
		t.Fatalf("the co-signed checkpoint no longer verifies under the log's key: %v", err)
	}
	c, err := VerifyCosignature(signed, "", w.Public())
	if err != nil || c.Time.Unix() != 200 || c.Name != WitnessName(w.Public()) {
		t.Fatalf("the stored co-signature: %+v, %v", c, err)
	}
}
