package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCardsAssign: a card is assigned and labelled by event, reassigned,
// and 'cards' shows the latest custodian and label; bad input is refused
// with what to do, and nothing is recorded for it.
func TestCardsAssign(t *testing.T) {
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	code, out := runIn(t, "cards", "assign", "FFFE00001001", "--custodian", "Carol Custodian", "--label", "KS-2025 #1", "--operator", "alice", "--data-dir", data)
	if code != exitOK || !strings.Contains(out, `Card FFFE00001001: custodian Carol Custodian, label "KS-2025 #1".`) {
		t.Fatalf("assign: %d\n%s", code, out)
	}
	code, out = runIn(t, "cards", "assign", "FFFE00001001", "--custodian", "Dave Deputy", "--operator", "alice", "--data-dir", data)
	if code != exitOK || !strings.Contains(out, "custodian Dave Deputy (was Carol Custodian)") {
		t.Fatalf("reassign: %d\n%s", code, out)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"FFFE0000DEAD", "--custodian", "X", "--operator", "alice"}, "card FFFE0000DEAD is not in the registry"},
		{[]string{"FFFE00001002", "--operator", "alice"}, "give --custodian, --label or both"},
		{[]string{"FFFE00001002", "--custodian", "X"}, "--operator is required"},
		{[]string{"FFFE00001002", "--label", "a\x07b", "--operator", "alice"}, "use at most 64 printable characters"},
	} {
		code, out := runIn(t, append(append([]string{"cards", "assign"}, bad.args...), "--data-dir", data)...)
		if code != exitUsage || !strings.Contains(out, bad.want) {
			t.Errorf("cards assign %q: exit %d, want %d and %q:\n%s", bad.args, code, exitUsage, bad.want, out)
		}
	}
	_, out = runIn(t, "cards", "--data-dir", data)
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FFFE00001001") {
			row = l
		}
		if strings.HasPrefix(l, "FFFE00001002") && strings.Contains(l, "X") {
			t.Errorf("a refused assignment reached the registry: %s", l)
		}
	}
	if !strings.Contains(row, "KS-2025 #1") || !strings.Contains(row, "Dave Deputy") || strings.Contains(row, "Carol") {
		t.Errorf("cards row of FFFE00001001: %q\n%s", row, out)
	}
	_, out = runIn(t, "list", "--data-dir", data)
	if strings.Count(out, "card-assign") != 2 {
		t.Errorf("want two card-assign ceremonies in the list:\n%s", out)
	}
}

// TestPINChangeReassigns: a PIN change with --custodian hands the card to
// another person (the manual: "assign a smart card to another person"):
// custody.card_assigned is recorded with the previous custodian before the
// change completes, and 'cards' and 'show' tell it. A bad name is refused
// before any card is touched.
func TestPINChangeReassigns(t *testing.T) {
	s := newSite(t)
	pins := []string{testPINs["card1"], "24681357", "35792468"}
	for i, who := range []string{"Carol Custodian", "Frank Custodian"} {
		id := []string{"pin-c", "pin-f"}[i]
		p := s.start("pin", "change", "--slot", "backup", "--custodian", who, "--operator", "alice", "--id", id, "--cards-dir", s.cardsDir)
		p.send("card1", "", pins[i], pins[i+1], pins[i+1])
		if code := p.exit(t); code != exitOK {
			t.Fatalf("pin change to %s: exit %d\n%s", who, code, p.output())
		}
	}
	_, show := s.runCLI(t, "show", "pin-f")
	if !strings.Contains(show, "custodian Frank Custodian (was Carol Custodian)") {
		t.Fatalf("show pin-f:\n%s", show)
	}
	_, ev := s.runCLI(t, "events", "pin-f", "--json")
	a, c := strings.Index(ev, `"custodian":"Frank Custodian","label":"","previous":"Carol Custodian","by":"alice"`), strings.Index(ev, "pin.changed")
	if a < 0 || c < a {
		t.Fatalf("no reassignment before the change:\n%s", ev)
	}
	_, cards := s.runCLI(t, "cards")
	if !strings.Contains(cards, "Frank Custodian") || strings.Contains(cards, "Carol Custodian") {
		t.Fatalf("cards after the reassignment:\n%s", cards)
	}
	if code, out := s.runCLI(t, "pin", "change", "--slot", "backup", "--custodian", "a\x07b", "--operator", "alice", "--cards-dir", s.cardsDir); code != exitUsage || !strings.Contains(out, "--custodian \"a\\ab\": use at most 64 printable characters") {
		t.Fatalf("a bad custodian: exit %d\n%s", code, out)
	}
	secrets := cardSecrets(t, s.cardsDir, map[string]string{"card1": pins[2], "card2": testPINs["card2"], "card3": testPINs["card3"]})
	secrets["first PIN of card1"], secrets["second PIN of card1"] = []byte(pins[0]), []byte(pins[1])
	s.mu.Lock()
	outs := map[string][]byte{"command output": append([]byte(nil), s.outputs.Bytes()...)}
	s.mu.Unlock()
	scan(t, secrets, s.dataDir, outs)
}
