package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/pgpwords"
)

// TestReportRendersInChromium writes the printable report of a ceremony,
// prints it to PDF with headless Chromium and reads the PDF back: it has
// the key facts and no secret.
func TestReportRendersInChromium(t *testing.T) {
	for _, tool := range []struct{ bin, pkg string }{{"chromium", "chromium"}, {"pdftotext", "poppler-utils"}} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			t.Fatalf("%s is not installed (Debian package %s; .ci/deps.sh installs it)", tool.bin, tool.pkg)
		}
	}
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	_, out := runIn(t, "list", "--data-dir", data)
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, out := runIn(t, "witness", id, "--name", "Wendy Witness", "--role", "auditor", "--data-dir", data); code != exitOK {
		t.Fatalf("witness: %d\n%s", code, out)
	}
	if code, out := runIn(t, "witness", id, "--name", "Sam Signer", "--role", "security officer", "--key-file", filepath.Join(dir, "sam.key"), "--create", "--data-dir", data); code != exitOK {
		t.Fatalf("signed witness: %d\n%s", code, out)
	}
	if code, out := runIn(t, "cards", "assign", "FFFE00001002", "--custodian", "Carol Custodian", "--label", "KS-A #2", "--operator", "alice", "--data-dir", data); code != exitOK {
		t.Fatalf("cards assign: %d\n%s", code, out)
	}
	exp := filepath.Join(dir, "exp")
	if code, out := runIn(t, "audit", "export", "--out", exp, "--ceremony", id, "--data-dir", data, "--key-file", filepath.Join(dir, "k"), "--create"); code != exitOK {
		t.Fatalf("export: %d\n%s", code, out)
	}
	html := filepath.Join(dir, "report.html")
	if code, out := runIn(t, "audit", "report", id, "--out", html, "--export", exp, "--data-dir", data); code != exitOK {
		t.Fatalf("report: %d\n%s", code, out)
	}
	if code, out := runIn(t, "audit", "report", id, "--out", html, "--data-dir", data); code == exitOK || !strings.Contains(out, "never overwritten") {
		t.Fatalf("a second report over the first: %d\n%s", code, out)
	}
	pdf := filepath.Join(dir, "report.pdf")
	cmd := exec.Command("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "chromium"), "--print-to-pdf="+pdf, "file://"+html)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, b)
	}
	text, err := exec.Command("pdftotext", "-layout", pdf, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	// The key facts, as the events say them.
	_, ev := runIn(t, "show", id, "--data-dir", data)
	kcv := ""
	for _, line := range strings.Split(ev, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "KCV" {
			kcv = f[1]
		}
	}
	for _, want := range []string{"Key ceremony report: " + id, "backup-key-generate", "completed", "2-of-3", kcv, "demo-operator",
		"FFFE00001001", "FFFE00001002", "FFFE00001003", "wrong PIN", "Deviations", "hsm.key_loaded", "events.jsonl SHA-256", "signed by key"} {
		if want == "" || !strings.Contains(string(text), want) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	// Issue 14's facts: one row per witness with role, time and how,
	// sign-offs after the end apart from the duration, signature lines
	// with name, role and date fields, cards with custodian and label,
	// the open findings, deviations in full.
	flat := strings.Join(strings.Fields(string(text)), " ")
	for _, want := range []string{"Witness sign-offs", "Sam Signer", "security officer", "(after the end)", "signed with Ed25519 key",
		"recorded at the station, unsigned", "(to the last ceremony event; sign-offs are listed below)",
		"Printed name", "Role", "Date", "Signature", "Operator", "Auditor",
		`FFFE00001002, read in Emulated cyberJack e-com 00 (host-pinpad), label "KS-A #2", custodian Carol Custodian`,
		"Health findings open when this report was made", "still on the factory default PIN (PW3)"} {
		if !strings.Contains(flat, want) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	if dev := between(flat, "Deviations", "Health findings"); dev == "" || strings.Contains(dev, "...") {
		t.Errorf("the deviations are missing or cut short: %q", dev)
	}
	// The station (issue 14, item 7): the software HSM, the reader and its
	// class, emulated cards, and the rehearsal marked on every page.
	for _, want := range []string{"software HSM: rehearsal (software-hsm, in memory)", "Emulated cyberJack e-com 00 (class: host-pinpad)",
		"EMULATED: emulated cards (images in " + filepath.Join(dir, "cards") + "), in an emulated reader", "PGP words: "} {
		if !strings.Contains(flat, want) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	pages := strings.Split(strings.TrimRight(string(text), "\f"), "\f")
	if len(pages) < 2 {
		t.Errorf("the report has %d page(s); the marking check needs several", len(pages))
	}
	for i, page := range pages {
		if n := strings.Count(strings.Join(strings.Fields(page), " "), "REHEARSAL: software HSM and emulated cards, not production hardware"); n < 2 {
			t.Errorf("page %d carries the rehearsal marking %d times, want a header and a footer", i+1, n)
		}
	}
	// The last event hash read aloud: its PGP words are on the page.
	_, js := runIn(t, "events", id, "--json", "--data-dir", data)
	lines := strings.Split(strings.TrimSpace(js), "\n")
	var last struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Hash == "" {
		t.Fatalf("the last event: %v %q", err, lines[len(lines)-1])
	}
	w, err := pgpwords.Hex(last.Hash)
	if err != nil || !strings.Contains(flat, "PGP words: "+strings.Join(strings.Fields(w)[:4], " ")) || !strings.Contains(string(htmlBytesOf(t, html)), w) {
		t.Errorf("the report lacks the last hash %s as PGP words %q (%v)", last.Hash, w, err)
	}
	// Page 1 as a PNG for a person to look at (go test -artifacts keeps it).
	png := filepath.Join(t.ArtifactDir(), "report-page1")
	if b, err := exec.Command("pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", pdf, png).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, b)
	}
	if st, err := os.Stat(png + ".png"); err != nil || st.Size() < 1000 {
		t.Fatalf("page 1 PNG: %v", err)
	}
	t.Logf("page 1: %s.png", png)
	if t.Failed() {
		t.Logf("PDF text:\n%s", text)
	}
	secrets := cardSecrets(t, filepath.Join(dir, "cards"), map[string]string{"card1": demoPINs[0], "card2": demoPINs[1], "card3": demoPINs[2]})
	htmlBytes, _ := os.ReadFile(html)
	scan(t, secrets, filepath.Join(dir, "data"), map[string][]byte{"report.html": htmlBytes, "report.pdf text": text})
}

func htmlBytesOf(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// between returns the text of s from the first from to the next to.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j]
}
