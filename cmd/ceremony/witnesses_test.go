package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWitnessesForEveryKind: --witnesses is a start parameter of every
// kind; a PIN change with --witnesses 1 takes the sign-off at the station,
// signed with the witness's key file, before the card is touched and the
// ceremony completes, and the report lists it in its own row.
func TestWitnessesForEveryKind(t *testing.T) {
	s := newSite(t)
	const newPIN = "24681357"
	key := filepath.Join(t.TempDir(), "wendy.key")
	p := s.start("pin", "change", "--slot", "backup", "--operator", "alice", "--id", "pin-w", "--witnesses", "1", "--cards-dir", s.cardsDir)
	p.send("Wendy Witness", "auditor", key)
	p.send("card1", "", testPINs["card1"], newPIN, newPIN)
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "Signed off by Wendy Witness (auditor), signed with key") {
		t.Fatalf("pin change with a witness: exit %d\n%s", code, p.output())
	}
	types := s.storedTypes(t, "pin-w")
	joined := strings.Join(types, " ")
	w, req, changed := strings.Index(joined, "ceremony.witnessed"), strings.Index(joined, "ceremony.witnesses_required"), strings.Index(joined, "pin.changed")
	if strings.Count(joined, "ceremony.witnessed") != 1 || req < 0 || w < req || changed < w || strings.Index(joined, "pin.change_requested") < w {
		t.Fatalf("the sign-off is not between the requirement and the change: %v", types)
	}
	html := filepath.Join(t.TempDir(), "r.html")
	if code, out := s.runCLI(t, "audit", "report", "pin-w", "--out", html); code != exitOK {
		t.Fatalf("report: %d\n%s", code, out)
	}
	page := string(mustRead(t, html))
	for _, want := range []string{"<td>Wendy Witness</td>", "<td>auditor</td>", "signed with Ed25519 key"} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(page, "(after the end)") {
		t.Errorf("the report lists the station's sign-off as made after the end")
	}

	// Every start command has the parameter, and checks it.
	for _, cmd := range [][]string{{"copy"}, {"share-check"}, {"pin", "change"}, {"load"}} {
		args := append(append([]string(nil), cmd...), "--operator", "a", "--witnesses", "10", "--cards-dir", s.cardsDir)
		if code, out := s.runCLI(t, args...); code != exitUsage || !strings.Contains(out, "--witnesses 10: give 0 to 9") {
			t.Errorf("%v --witnesses 10: exit %d\n%s", cmd, code, out)
		}
	}
	secrets := cardSecrets(t, s.cardsDir, map[string]string{"card1": newPIN, "card2": testPINs["card2"], "card3": testPINs["card3"]})
	secrets["old PIN of card1"] = []byte(testPINs["card1"])
	s.mu.Lock()
	outs := map[string][]byte{"command output": append([]byte(nil), s.outputs.Bytes()...)}
	s.mu.Unlock()
	scan(t, secrets, s.dataDir, outs)
}
