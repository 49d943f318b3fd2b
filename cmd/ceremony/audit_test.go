package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
)

// TestAuditExportMutations exports a real event store, checks it verifies
// offline, then applies each tampering an auditor must catch to a copy and
// expects a refusal that names the file and line.
func TestAuditExportMutations(t *testing.T) {
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	key := filepath.Join(dir, "audit.key")
	if code, out := runIn(t, "audit", "verify-store", "--data-dir", data); code != exitOK || !strings.Contains(out, "every hash and chain holds") {
		t.Fatalf("verify-store: %d\n%s", code, out)
	}
	_, out := runIn(t, "list", "--data-dir", data)
	gen := strings.Fields(strings.Split(out, "\n")[1])[0]
	expA, expB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if code, out := runIn(t, "audit", "export", "--out", expA, "--data-dir", data, "--key-file", key, "--create"); code != exitOK {
		t.Fatalf("export: %d\n%s", code, out)
	}
	second := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", second); code != exitOK {
		t.Fatalf("second demo: %d\n%s", code, out)
	}
	if code, out := runIn(t, "audit", "export", "--out", expB, "--data-dir", filepath.Join(second, "data"), "--key-file", key); code != exitOK {
		t.Fatalf("export B: %d\n%s", code, out)
	}
	_, keyOut := runIn(t, "audit", "key", "--key-file", key)
	pub := strings.Fields(strings.Split(keyOut, "\n")[0])[2]
	verify := func(d string) (int, string) { return runIn(t, "audit", "verify", d, "--public-key", pub) }
	if code, out := verify(expA); code != exitOK || !strings.Contains(out, "OK: 68 events") {
		t.Fatalf("the untouched export does not verify: %d\n%s", code, out)
	}
	if code, out := runIn(t, "audit", "export", "--out", expA, "--data-dir", data, "--key-file", key); code != exitUsage || !strings.Contains(out, "is not empty") {
		t.Fatalf("an export over an export: %d\n%s", code, out)
	}

	lines := func(d string) []string {
		b, err := os.ReadFile(filepath.Join(d, export.JSONLFile))
		if err != nil {
			t.Fatal(err)
		}
		return strings.SplitAfter(string(b), "\n")
	}
	linesA, linesB := lines(expA), lines(expB)
	copyExport := func(name string) string {
		d := filepath.Join(dir, "m-"+name)
		os.MkdirAll(d, 0o755)
		for _, f := range []string{export.JSONLFile, export.CSVFile, export.ManifestFile} {
			b, _ := os.ReadFile(filepath.Join(expA, f))
			os.WriteFile(filepath.Join(d, f), b, 0o644)
		}
		return d
	}
	writeLines := func(d string, ls []string) {
		os.WriteFile(filepath.Join(d, export.JSONLFile), []byte(strings.Join(ls, "")), 0o644)
	}
	mutations := []struct {
		name   string
		mutate func(d string)
		say    string
	}{
		{"a changed field", func(d string) {
			ls := append([]string(nil), linesA...)
			ls[0] = strings.Replace(ls[0], `"operator":"demo-operator"`, `"operator":"mallory"`, 1)
			writeLines(d, ls)
		}, "events.jsonl line 1: "},
		{"a deleted event", func(d string) {
			ls := append(append([]string(nil), linesA[:9]...), linesA[10:]...)
			writeLines(d, ls)
		}, "events.jsonl line 10: "},
		{"an inserted event (of another ceremony)", func(d string) {
			ls := append(append(append([]string(nil), linesA[:4]...), linesB[4]), linesA[4:]...)
			writeLines(d, ls)
		}, "events.jsonl line 5: "},
		{"an inserted event (a duplicate)", func(d string) {
			ls := append(append(append([]string(nil), linesA[:6]...), linesA[3]), linesA[6:]...)
			writeLines(d, ls)
		}, "events.jsonl line 7: "},
		{"two events swapped", func(d string) {
			ls := append([]string(nil), linesA...)
			ls[7], ls[8] = ls[8], ls[7]
			writeLines(d, ls)
		}, "events.jsonl line 8: "},
		{"a truncated file", func(d string) {
			b := []byte(strings.Join(linesA, ""))
			os.WriteFile(filepath.Join(d, export.JSONLFile), b[:len(b)-40], 0o644)
		}, "events.jsonl line 68: "},
		{"the last events cut off", func(d string) {
			writeLines(d, linesA[:60])
		}, "events.jsonl: ceremony " + gen + " has 60 events"},
		{"a manifest signed by another key", func(d string) {
			var m export.Manifest
			b, _ := os.ReadFile(filepath.Join(d, export.ManifestFile))
			json.Unmarshal(b, &m)
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			m.Signature = ""
			msg, _ := json.Marshal(m)
			m.Signature = hex.EncodeToString(ed25519.Sign(other, msg))
			out, _ := json.MarshalIndent(m, "", "  ")
			os.WriteFile(filepath.Join(d, export.ManifestFile), out, 0o644)
		}, "manifest.json: the signature does not verify"},
		{"files of two exports mixed", func(d string) {
			for _, f := range []string{export.JSONLFile, export.CSVFile} {
				b, _ := os.ReadFile(filepath.Join(expB, f))
				os.WriteFile(filepath.Join(d, f), b, 0o644)
			}
		}, "events.jsonl line 1: ceremony"},
		{"a changed CSV cell", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, export.CSVFile))
			os.WriteFile(filepath.Join(d, export.CSVFile), []byte(strings.Replace(string(b), "demo-operator", "mallory", 1)), 0o644)
		}, "events.csv: SHA-256 differs"},
	}
	for _, m := range mutations {
		d := copyExport(strings.ReplaceAll(m.name, " ", "-"))
		m.mutate(d)
		code, out := verify(d)
		// Issue 13, defect 7: a failed check exits 6, not 3 (ceremonies).
		if code != exitAltered || !strings.Contains(out, m.say) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", m.name, code, exitAltered, m.say, out)
		}
	}
	// Filters: one ceremony; a time range with nothing in it.
	expC, expD := filepath.Join(dir, "c"), filepath.Join(dir, "d")
	if code, out := runIn(t, "audit", "export", "--out", expC, "--ceremony", gen, "--kind", "backup-key-generate", "--data-dir", data, "--key-file", key); code != exitOK || !strings.Contains(out, "exported 68 events of 1 ceremonies") {
		t.Fatalf("export of one ceremony: %d\n%s", code, out)
	}
	if code, out := runIn(t, "audit", "export", "--out", expD, "--from", "2099-01-01T00:00:00Z", "--data-dir", data, "--key-file", key); code != exitOK || !strings.Contains(out, "exported 0 events") {
		t.Fatalf("export of an empty range: %d\n%s", code, out)
	}
	for _, d := range []string{expC, expD} {
		if code, out := verify(d); code != exitOK {
			t.Fatalf("verify %s: %d\n%s", d, code, out)
		}
	}
	if code, out := runIn(t, "audit", "export", "--out", t.TempDir(), "--from", "yesterday", "--data-dir", data, "--key-file", key); code != exitUsage || !strings.Contains(out, "RFC 3339") {
		t.Fatalf("a bad --from: %d\n%s", code, out)
	}
	// Another key than the manifest's is refused before anything else.
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	if code, out := runIn(t, "audit", "verify", expA, "--public-key", hex.EncodeToString(otherKey.Public().(ed25519.PublicKey))); code != exitAltered || !strings.Contains(out, "not by the key given") {
		t.Errorf("verify with another public key: %d\n%s", code, out)
	}
	// No secret of the cards in the export.
	secrets := cardSecrets(t, filepath.Join(dir, "cards"), map[string]string{"card1": demoPINs[0], "card2": demoPINs[1], "card3": demoPINs[2]})
	scan(t, secrets, expA, map[string][]byte{})
}

func TestWitnessSignOff(t *testing.T) {
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	_, out := runIn(t, "list", "--data-dir", data)
	gen := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, out := runIn(t, "witness", gen, "--data-dir", data, "--name", "Wendy"); code != exitUsage || !strings.Contains(out, "--name and --role are required") {
		t.Fatalf("witness without a role: %d\n%s", code, out)
	}
	if code, out := runIn(t, "witness", "nope", "--data-dir", data, "--name", "Wendy", "--role", "auditor"); code != exitNotFound {
		t.Fatalf("witness of an unknown ceremony: %d\n%s", code, out)
	}
	key := filepath.Join(dir, "wendy.key")
	// A key file that does not exist (a typo) is refused, nothing is
	// recorded or created, unless --create.
	_, stored := runIn(t, "events", gen, "--json", "--data-dir", data)
	if code, out := runIn(t, "witness", gen, "--data-dir", data, "--name", "Wendy", "--role", "auditor", "--key-file", key); code != exitUsage || !strings.Contains(out, "--key-file "+key+" does not exist") || !strings.Contains(out, "--create") {
		t.Fatalf("witness with a missing key file: %d\n%s", code, out)
	}
	if _, err := os.Stat(key); err == nil {
		t.Fatal("a missing --key-file was created without --create")
	}
	if _, after := runIn(t, "events", gen, "--json", "--data-dir", data); after != stored {
		t.Fatal("a refused sign-off recorded an event")
	}
	if code, out := runIn(t, "witness", gen, "--data-dir", data, "--name", "Wendy", "--role", "auditor", "--key-file", key, "--create"); code != exitOK || !strings.Contains(out, "signed") || !strings.Contains(out, "Created the witness key file") {
		t.Fatalf("witness: %d\n%s", code, out)
	}
	// After the end the sign-off is an event of the ceremony, signed over
	// the hash of the event before it.
	_, jsonl := runIn(t, "events", gen, "--json", "--data-dir", data)
	lines := strings.Split(strings.TrimSpace(jsonl), "\n")
	var last, before struct {
		Type    string          `json:"type"`
		Hash    string          `json:"hash"`
		Payload json.RawMessage `json:"payload"`
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	json.Unmarshal([]byte(lines[len(lines)-2]), &before)
	var w events.Witnessed
	json.Unmarshal(last.Payload, &w)
	pub, _ := hex.DecodeString(w.PublicKey)
	sig, _ := hex.DecodeString(w.Signature)
	if last.Type != "ceremony.witnessed" || w.UpTo != before.Hash || !ed25519.Verify(pub, events.WitnessMessage(gen, w.UpTo, w.Name, w.Role, w.Statement), sig) {
		t.Fatalf("the sign-off does not verify: %+v", w)
	}
	if code, out := runIn(t, "audit", "verify-store", "--data-dir", data); code != exitOK {
		t.Fatalf("verify-store after a sign-off: %d\n%s", code, out)
	}
}

func TestAuditExportSignedInTheHSM(t *testing.T) {
	tk := softhsmtest.New(t, "audit-hsm")
	hsm := []string{"--hsm", "pkcs11", "--pkcs11-module", tk.Module, "--pkcs11-token", tk.Label, "--pkcs11-pin-file", tk.PINFile}
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	code, out := runIn(t, append([]string{"audit", "key"}, hsm...)...)
	if code != exitOK || !strings.Contains(out, "created the audit signing key in pkcs11:token=audit-hsm") {
		t.Fatalf("audit key in the HSM: %d\n%s", code, out)
	}
	pub := ""
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "public" {
			pub = f[2]
		}
	}
	exp := filepath.Join(dir, "exp")
	if code, out := runIn(t, append([]string{"audit", "export", "--out", exp, "--data-dir", data}, hsm...)...); code != exitOK {
		t.Fatalf("export signed in the HSM: %d\n%s", code, out)
	}
	if code, out := runIn(t, "audit", "verify", exp, "--public-key", pub); code != exitOK {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	if _, err := os.Stat("audit-signing.key"); err == nil {
		t.Fatal("a key file was made although the HSM holds the key")
	}
}
