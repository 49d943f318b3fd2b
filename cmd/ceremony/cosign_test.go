package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
)

// TestExportVerifiesAgainstACosignedCheckpoint (issue 12, item 3, and its
// done-when): a witness who signs off at the station's desk with a key
// file co-signs the checkpoint written at the ceremony's end; 'ceremony
// witness --key-file' after the end writes a checkpoint and co-signs it.
// An export of that one ceremony carries the co-signatures of its
// checkpoint, and 'audit verify --witness-key' checks each key, naming a
// key that did not co-sign (exit 6).
func TestExportVerifiesAgainstACosignedCheckpoint(t *testing.T) {
	noKeyFile(t)
	s := newSite(t)
	code, out := runBare(t, s, "audit", "key", "--create")
	if code != exitOK {
		t.Fatalf("audit key --create: exit %d\n%s", code, out)
	}
	auditPub := strings.Fields(strings.SplitAfter(out, "public key:")[1])[0]

	keys := t.TempDir()
	wendy, walter := filepath.Join(keys, "wendy.key"), filepath.Join(keys, "walter.key")
	pubFile := func(key string) string {
		k, _, err := keyfile.LoadOrCreate(key)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.TrimSuffix(key, ".key") + ".pub"
		if err := os.WriteFile(f, []byte(hex.EncodeToString(k.Public())+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	const newPIN = "24681357"
	p := s.start("pin", "change", "--slot", "backup", "--operator", "alice", "--id", "pin-w", "--witnesses", "1", "--cards-dir", s.cardsDir)
	p.send("Wendy Witness", "auditor", wendy)
	p.send("card1", "", testPINs["card1"], newPIN, newPIN)
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "Checkpoint (end of ceremony pin-w)") || !strings.Contains(p.output(), "Co-signed checkpoint") {
		t.Fatalf("pin change with a witness at the desk: exit %d\n%s", code, p.output())
	}
	wendyPub, walterPub := pubFile(wendy), filepath.Join(keys, "walter.pub")

	verify := func(exp string, witnessKeys ...string) (int, string) {
		args := []string{"audit", "verify", exp, "--public-key", auditPub}
		for _, k := range witnessKeys {
			args = append(args, "--witness-key", k)
		}
		return runBare(t, s, args...)
	}
	exp1 := filepath.Join(t.TempDir(), "exp1")
	if code, out := s.runCLI(t, "audit", "export", "--out", exp1, "--ceremony", "pin-w"); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	if code, out := verify(exp1, wendyPub); code != exitOK || !strings.Contains(out, "every event is included in the signed checkpoint") || !strings.Contains(out, "OK: the checkpoint is co-signed by witness key") {
		t.Fatalf("verify the export against Wendy's co-signature: exit %d\n%s", code, out)
	}

	// A sign-off after the end, with a new key: a new checkpoint, co-signed.
	code, out = s.runCLI(t, "witness", "pin-w", "--name", "Walter", "--role", "security officer", "--key-file", walter, "--create")
	if code != exitOK || !strings.Contains(out, "Co-signed checkpoint") {
		t.Fatalf("witness --key-file: exit %d\n%s", code, out)
	}
	pubFile(walter)
	exp2 := filepath.Join(t.TempDir(), "exp2")
	if code, out := s.runCLI(t, "audit", "export", "--out", exp2, "--ceremony", "pin-w"); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	if code, out := verify(exp2, walterPub); code != exitOK || strings.Count(out, "OK: the checkpoint is co-signed") != 1 {
		t.Fatalf("verify the second export against Walter's co-signature: exit %d\n%s", code, out)
	}
	// Wendy co-signed the older checkpoint, not this one: named, exit 6.
	code, out = verify(exp2, walterPub, wendyPub)
	if code != exitAltered || !strings.Contains(out, "FAILED: witness key") || !strings.Contains(out, "not co-signed by this witness key") {
		t.Fatalf("verify with a key that did not co-sign: exit %d\n%s", code, out)
	}
	// A co-signature checked against another export's checkpoint would not
	// hold: the export's own files are what is checked.
	if code, out := verify(exp1, walterPub); code != exitAltered {
		t.Fatalf("the first export verified against Walter's later co-signature: exit %d\n%s", code, out)
	}
	secrets := cardSecrets(t, s.cardsDir, map[string]string{"card1": newPIN, "card2": testPINs["card2"], "card3": testPINs["card3"]})
	secrets["old PIN of card1"] = []byte(testPINs["card1"])
	for name, key := range map[string]string{"Wendy's key file": wendy, "Walter's key file": walter} {
		b, err := os.ReadFile(key)
		if err != nil {
			t.Fatal(err)
		}
		secrets[name] = []byte(strings.TrimSpace(string(b)))
	}
	s.mu.Lock()
	outs := map[string][]byte{"command output": append([]byte(nil), s.outputs.Bytes()...)}
	s.mu.Unlock()
	scan(t, secrets, s.dataDir, outs)
	scan(t, secrets, exp1, map[string][]byte{})
	scan(t, secrets, exp2, map[string][]byte{})
}
