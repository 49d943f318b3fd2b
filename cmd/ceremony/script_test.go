package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
)

const testScript = `title: Scripted generate
kind: backup-key-generate
params:
  quorum: 2-of-3
unscripted: refuse
operators: [alice]
custodians:
  - name: Carol Custodian
    card: FFFE00004001
  - name: Dan Custodian
    card: FFFE00004002
  - name: Erin Custodian
    card: FFFE00004004
witnesses:
  - role: auditor
steps:
  - Read the purpose of the ceremony aloud.
  - Check the HSM's tamper seals.
`

// TestScriptedGenerate: a generate started from a script records the
// script's hash, checks off its steps, refuses (and records) a card the
// script does not name, and the report lists the hash and the steps.
func TestScriptedGenerate(t *testing.T) {
	s := newSite(t)
	testPINs["card4"] = "63544536"
	t.Cleanup(func() { delete(testPINs, "card4") })
	if _, err := cardemu.Create(filepath.Join(s.cardsDir, "card4.img"), cardemu.Options{Serial: 0x4004, PW1: []byte(testPINs["card4"]), PW3: []byte(testPINs["card4"])}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "gen.yaml")
	if err := os.WriteFile(file, []byte(testScript), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runIn(t, "script", "check", file)
	if code != exitOK || !strings.Contains(out, "a valid backup-key-generate script, SHA-256 ") {
		t.Fatalf("script check: %d\n%s", code, out)
	}
	hash := strings.Fields(strings.SplitAfter(out, "SHA-256 ")[1])[0]

	// The reviewed script fixes the parameters and the operator.
	if code, out := s.runCLI(t, "generate", "--script", file, "--quorum", "3-of-5", "--operator", "alice", "--cards-dir", s.cardsDir); code != exitUsage || !strings.Contains(out, "--quorum and --script") {
		t.Fatalf("--quorum with --script: %d\n%s", code, out)
	}
	if code, out := s.runCLI(t, "generate", "--script", file, "--operator", "mallory", "--cards-dir", s.cardsDir); code != exitUsage || !strings.Contains(out, `operator "mallory" is not named in the script`) {
		t.Fatalf("an unscripted operator: %d\n%s", code, out)
	}
	if code, out := s.runCLI(t, "load", "--script", file, "--operator", "alice", "--cards-dir", s.cardsDir); code != exitUsage || !strings.Contains(out, "is for a backup-key-generate ceremony, not backup-key-load") {
		t.Fatalf("a generate script given to load: %d\n%s", code, out)
	}

	p := s.start("generate", "--script", file, "--operator", "alice", "--id", "gen-s", "--cards-dir", s.cardsDir)
	p.send("", "") // the two steps read aloud
	p.send("")     // Write New Key
	p.send("card3", "")
	for _, c := range []string{"card1", "card2", "card4"} {
		p.send(cardTurn(c)...)
	}
	p.send("")
	p.send("", "", testPINs["card4"]) // card4 stays in the reader
	p.send(cardTurn("card1")...)
	// The script's witness list (one auditor) sets the count; a sign-off
	// in another role is turned away, as the script refuses the unscripted.
	p.send("Mallory", "janitor", "", "Wendy Witness", "auditor", "")
	if code := p.exit(t); code != exitOK {
		t.Fatalf("scripted generate: exit %d\n%s", code, p.output())
	}
	for _, want := range []string{"Script step 1 of 2, read aloud: Read the purpose of the ceremony aloud.", "card FFFE00004003 refused (unscripted): card FFFE00004003 is not named in the ceremony's script",
		"Mallory (janitor) is not a witness the ceremony's script (gen.yaml) names: it names any auditor: the sign-off is not taken", "Signed off by Wendy Witness (auditor)"} {
		if !strings.Contains(p.output(), want) {
			t.Errorf("the operator was not told %q:\n%s", want, p.output())
		}
	}
	joined := strings.Join(s.storedTypes(t, "gen-s"), " ")
	if !strings.Contains(joined, "backupkey.generate_started ceremony.witnesses_required ceremony.station ceremony.script_bound") || strings.Count(joined, "ceremony.script_step_checked") != 2 || strings.Count(joined, "ceremony.witnessed") != 1 || strings.Count(joined, "card.refused") != 1 {
		t.Fatalf("events: %s", joined)
	}
	_, ev := s.runCLI(t, "events", "gen-s", "--json")
	for _, want := range []string{`"sha256":"` + hash, `"code":"unscripted"`, `"serial":"FFFE00004003"`, `"count":1,"named":[{"role":"auditor"}]`, `"name":"Wendy Witness"`} {
		if !strings.Contains(ev, want) {
			t.Errorf("the events lack %s:\n%s", want, ev)
		}
	}
	html := filepath.Join(t.TempDir(), "r.html")
	if code, out := s.runCLI(t, "audit", "report", "gen-s", "--out", html); code != exitOK {
		t.Fatalf("report: %d\n%s", code, out)
	}
	page := string(mustRead(t, html))
	for _, want := range []string{"<h2>Script</h2>", hash, "gen.yaml: Scripted generate", "Check the HSM&#39;s tamper seals.", "card refused", "unscripted"} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(page, "not checked off") {
		t.Errorf("the report has a step not checked off")
	}
	s.scanForSecrets(t)
}

// TestScriptCheckAndRender: a bad script exits 2 naming each line; render
// prints the checklist.
func TestScriptCheckAndRender(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: backup-key-generate\nparams:\n  quorum: 2-of-3\n  colour: red\ncustodians:\n  - name: C\n    card: FFFE00004001\n    pin: 123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runIn(t, "script", "check", bad)
	if code != exitUsage || !strings.Contains(out, bad+":8: field pin not found") {
		t.Fatalf("script check of an unknown key: %d\n%s", code, out)
	}
	if err := os.WriteFile(bad, []byte("kind: backup-key-generate\nparams:\n  quorum: 2-of-3\n  colour: red\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = runIn(t, "script", "check", bad)
	if code != exitUsage || !strings.Contains(out, bad+`:4: parameter "colour" is not a parameter of backup-key-generate`) {
		t.Fatalf("script check of an unknown parameter: %d\n%s", code, out)
	}
	good := filepath.Join(dir, "gen.yaml")
	if err := os.WriteFile(good, []byte(testScript), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = runIn(t, "script", "render", good)
	for _, want := range []string{"Scripted generate", "[ ] 3. Erin Custodian", "card FFFE00004004", "[ ] 2. Check the HSM's tamper seals.", "is REFUSED", "Printed name"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("render: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
}
