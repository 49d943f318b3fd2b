package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		"Wendy Witness (auditor)", "FFFE00001001", "FFFE00001002", "FFFE00001003", "wrong PIN", "Deviations", "hsm.key_loaded", "events.jsonl SHA-256", "signed by key"} {
		if want == "" || !strings.Contains(string(text), want) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("PDF text:\n%s", text)
	}
	secrets := cardSecrets(t, filepath.Join(dir, "cards"), map[string]string{"card1": demoPINs[0], "card2": demoPINs[1], "card3": demoPINs[2]})
	htmlBytes, _ := os.ReadFile(html)
	scan(t, secrets, filepath.Join(dir, "data"), map[string][]byte{"report.html": htmlBytes, "report.pdf text": text})
}
