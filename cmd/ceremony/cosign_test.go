package main

import (
	"bytes"
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
	checkCosignatureDamage(t, s, exp2, auditPub)
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

// checkCosignatureDamage: the co-signatures verify (verify-store, audit
// verify of export exp); a changed character of one in the checkpoints
// directory, the same file cut, or a changed one in the export, is named,
// exit 6.
func checkCosignatureDamage(t *testing.T, s *site, exp, auditPub string) {
	t.Helper()
	if code, out := s.runCLI(t, "audit", "verify-store"); code != exitOK || !strings.Contains(out, "OK: 2 witness co-signature(s) of the checkpoints verify") {
		t.Fatalf("verify-store with two co-signatures: exit %d\n%s", code, out)
	}
	if code, out := runBare(t, s, "audit", "verify", exp, "--public-key", auditPub); code != exitOK || !strings.Contains(out, "OK: 1 witness co-signature(s) of the checkpoint verify") {
		t.Fatalf("audit verify of an export with a co-signed checkpoint: exit %d\n%s", code, out)
	}
	files, err := filepath.Glob(filepath.Join(s.dataDir, "checkpoints", "*.cosignature"))
	if err != nil || len(files) != 2 {
		t.Fatalf("co-signature files: %v (%v), want 2", files, err)
	}
	f := files[0]
	good := readFile(t, f)
	for what, bad := range map[string][]byte{"a changed character": changeSigChar(good), "cut in half": good[:len(good)/2]} {
		if err := os.WriteFile(f, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := s.runCLI(t, "audit", "verify-store")
		if code != exitAltered || !strings.Contains(out, "co-signature "+f) {
			t.Fatalf("verify-store with co-signature %s %s: exit %d, want %d naming it\n%s", f, what, code, exitAltered, out)
		}
	}
	if err := os.WriteFile(f, good, 0o644); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(exp, "checkpoint")
	signed := readFile(t, cp)
	if err := os.WriteFile(cp, changeSigChar(signed), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runBare(t, s, "audit", "verify", exp, "--public-key", auditPub); code != exitAltered || !strings.Contains(out, "checkpoint: translog: the co-signature of ceremony-witness/") {
		t.Fatalf("audit verify of an export whose co-signature was changed: exit %d, want %d naming it\n%s", code, exitAltered, out)
	}
}

// changeSigChar changes one base64 character of the last signature line
// of a note (a co-signature's, in these files): the tenth from its end.
func changeSigChar(b []byte) []byte {
	out := bytes.Clone(b)
	i := len(out) - 10
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out
}
