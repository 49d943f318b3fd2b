package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
)

func hsmArgs(tk *softhsmtest.Token) []string {
	return []string{"--hsm", "pkcs11", "--pkcs11-module", tk.Module, "--pkcs11-token", tk.Label, "--pkcs11-pin-file", tk.PINFile}
}

func runIn(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &out)
	return code, out.String()
}

func openToken(t *testing.T, tk *softhsmtest.Token) *pkcs11hsm.HSM {
	t.Helper()
	h, err := pkcs11hsm.Open(context.Background(), tk.Config())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestClusterNodeRestoresTheBackup: node A gets the Backup Key from a
// generate ceremony and a signing key; its backup is restored on node B,
// loaded by a load ceremony from two of the same cards; a signature made
// on A verifies on B. Restores on a node without the Backup Key or with
// another one are refused, saying why.
func TestClusterNodeRestoresTheBackup(t *testing.T) {
	nodeA := softhsmtest.New(t, "node-a")
	nodeB := nodeA.Add(t, "node-b")
	nodeC := nodeA.Add(t, "node-c") // never loaded
	nodeD := nodeA.Add(t, "node-d") // loaded with another Backup Key
	dir := t.TempDir()
	data, cards := filepath.Join(dir, "data"), filepath.Join(dir, "cards")

	if code, out := runIn(t, append([]string{"demo", "--dir", dir}, hsmArgs(nodeA)...)...); code != exitOK {
		t.Fatalf("generate into node A: exit %d\n%s", code, out)
	}
	if code, out := runIn(t, append([]string{"demo", "--dir", t.TempDir()}, hsmArgs(nodeD)...)...); code != exitOK {
		t.Fatalf("another key into node D: exit %d\n%s", code, out)
	}
	signID := []byte("sign-1")
	h := openToken(t, nodeA)
	softhsmtest.GenerateECKey(t, h, "signing key", signID)
	softhsmtest.GenerateAESKey(t, h, "data key", []byte("aes-1"), true)
	softhsmtest.GenerateAESKey(t, h, "pinned key", []byte("aes-2"), false)
	h.Close()

	backup := filepath.Join(dir, "node-a.backup.json")
	code, out := runIn(t, append([]string{"hsm", "backup", "--out", backup, "--operator", "alice", "--data-dir", data}, hsmArgs(nodeA)...)...)
	if code != exitOK || !strings.Contains(out, "hsm.key_wrapped") || !strings.Contains(out, "hsm.key_skipped") || !strings.Contains(out, "pinned key") {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	if code, out := runIn(t, append([]string{"hsm", "backup", "--out", backup, "--operator", "alice", "--data-dir", data}, hsmArgs(nodeA)...)...); code == exitOK || !strings.Contains(out, "never overwritten") {
		t.Fatalf("a second backup over the first: exit %d\n%s", code, out)
	}

	// Node B: a load ceremony from cards 2 and 3, then the restore.
	s := &site{t: t, dataDir: data, cardsDir: cards, outputs: &bytes.Buffer{}}
	p := s.start(append([]string{"load", "--operator", "bob", "--cards-dir", cards}, hsmArgs(nodeB)...)...)
	p.send("")
	p.send("card2", "", demoPINs[1])
	p.send("card3", "", demoPINs[2])
	if code := p.exit(t); code != exitOK {
		t.Fatalf("load into node B: exit %d\n%s", code, p.output())
	}
	if code, out := runIn(t, append([]string{"hsm", "restore", backup, "--operator", "bob", "--data-dir", data}, hsmArgs(nodeB)...)...); code != exitOK || strings.Count(out, "hsm.key_restored") != 2 {
		t.Fatalf("restore on node B: exit %d\n%s", code, out)
	}

	a, b := openToken(t, nodeA), openToken(t, nodeB)
	msg := []byte("a certificate to sign")
	if sig := softhsmtest.Sign(t, a, signID, msg); !softhsmtest.Verify(t, b, signID, msg, sig) {
		t.Fatal("a signature made on node A does not verify with the key restored on node B")
	}
	if sig := softhsmtest.Sign(t, b, signID, msg); !softhsmtest.Verify(t, a, signID, msg, sig) {
		t.Fatal("a signature made with the restored key on node B does not verify on node A")
	}
	a.Close()
	b.Close()

	refusals := []struct {
		tk  *softhsmtest.Token
		say string
	}{
		{nodeC, "holds no Backup Key"},
		{nodeD, "the backup was made under KCV"},
	}
	for _, r := range refusals {
		code, out := runIn(t, append([]string{"hsm", "restore", backup, "--operator", "bob", "--data-dir", data}, hsmArgs(r.tk)...)...)
		if code != exitNotDone || !strings.Contains(out, r.say) || strings.Contains(out, "hsm.key_restored") {
			t.Errorf("restore on %s: exit %d, want %d saying %q\n%s", r.tk.Label, code, exitNotDone, r.say, out)
		}
	}
	// Restoring again on B: the keys exist and are left as they are.
	if code, out := runIn(t, append([]string{"hsm", "restore", backup, "--operator", "bob", "--data-dir", data}, hsmArgs(nodeB)...)...); code != exitNotDone || strings.Count(out, "hsm.key_restore_failed") != 2 {
		t.Fatalf("a second restore on node B: exit %d\n%s", code, out)
	}

	secrets := cardSecrets(t, cards, map[string]string{"card1": demoPINs[0], "card2": demoPINs[1], "card3": demoPINs[2]})
	for _, tk := range []*softhsmtest.Token{nodeA, nodeB, nodeC, nodeD} {
		secrets["PIN of token "+tk.Label] = []byte(tk.PIN)
	}
	scan(t, secrets, data, map[string][]byte{"output": s.outputs.Bytes(), "backup file": mustRead(t, backup)})
}
