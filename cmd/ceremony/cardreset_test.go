package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// generateSet runs a 2-of-3 generate on card1..card3 of the site and
// loads the key.
func generateSet(t *testing.T, s *site, id string) {
	t.Helper()
	g := s.start("generate", "--operator", "alice", "--id", id, "--cards-dir", s.cardsDir)
	g.send("")
	for _, c := range []string{"card1", "card2", "card3"} {
		g.send(cardTurn(c)...)
	}
	g.send("", "", "", testPINs["card3"])
	g.send(cardTurn("card1")...)
	if code := g.exit(t); code != exitOK {
		t.Fatalf("generate: exit %d\n%s", code, g.output())
	}
}

// TestCardResetCLI: through the CLI, a card of a live 2-of-3 set whose
// backup PIN is blocked is reset after a confirmation naming the share
// lost and the margin left; 'cards', 'health' and 'show' tell it after.
// A reset the operator does not confirm changes nothing. No PIN reaches
// a file or an output.
func TestCardResetCLI(t *testing.T) {
	s := newSite(t)
	generateSet(t, s, "gen-r")
	cl, _, pull := cardClient(t, filepath.Join(s.cardsDir, "card3.img"))
	for i := 0; i < 3; i++ {
		_ = cl.Verify(openpgp.PW3, []byte("00000000"))
	}
	pull()

	// Refused: the operator presses Cancel at the confirmation.
	p := s.start("card-reset", "--operator", "alice", "--id", "reset-no", "--cards-dir", s.cardsDir)
	p.send(cardTurn("card2")...)
	p.send("c")
	if code := p.exit(t); code != exitNotDone || !strings.Contains(p.output(), "share 2 of key set") || !strings.Contains(p.output(), "nothing was changed") {
		t.Fatalf("unconfirmed reset: exit %d\n%s", code, p.output())
	}
	cl, _, pull = cardClient(t, filepath.Join(s.cardsDir, "card2.img"))
	if err := cl.Verify(openpgp.PW3, []byte(testPINs["card2"])); err != nil {
		t.Fatalf("card2 after an unconfirmed reset: %v", err)
	}
	if do, err := cl.ReadPrivateDO(0x0104); err != nil || len(do) == 0 {
		t.Fatalf("card2's share after an unconfirmed reset: %d bytes, %v", len(do), err)
	}
	pull()

	// The blocked card: no PIN, one confirmation.
	p = s.start("card-reset", "--serial", "FFFE00004003", "--operator", "alice", "--id", "reset-3", "--cards-dir", s.cardsDir)
	p.send("card3", "", "")
	code := p.exit(t)
	out := p.output()
	if code != exitOK || !strings.Contains(out, "its backup PIN is blocked, so the card cannot be read; the registry says: share 3 of key set") ||
		!strings.Contains(out, "will be gone for good; the set keeps 2 of 3 usable shares, quorum 2") || !strings.Contains(out, "factory state") {
		t.Fatalf("reset of the blocked card: exit %d\n%s", code, out)
	}
	cl, _, pull = cardClient(t, filepath.Join(s.cardsDir, "card3.img"))
	if err := cl.Verify(openpgp.PW3, []byte("123456")); err != nil {
		t.Fatalf("card3's default PIN after the reset: %v\n%s", err, out)
	}
	pull()
	_, health := s.runCLI(t, "health")
	if !strings.Contains(health, "exactly 2 usable distinct shares for a threshold of 2") || strings.Contains(health, "FFFE00004003: its backup PIN (PW3) is blocked") {
		t.Fatalf("health after the reset:\n%s", health)
	}
	_, show := s.runCLI(t, "show", "reset-3")
	if !strings.Contains(show, "confirmed by alice") || !strings.Contains(show, "from the registry (the backup PIN is blocked)") {
		t.Fatalf("show reset-3:\n%s", show)
	}
	_, ev := s.runCLI(t, "events", "reset-3")
	for _, w := range []string{"card.blocked", "cardreset.content_named", "cardreset.confirmed", "cardreset.reset_requested", "cardreset.card_reset"} {
		if !strings.Contains(ev, w) {
			t.Errorf("events of reset-3 lack %s:\n%s", w, ev)
		}
	}
	// The scan: card3 now has the default PIN; its old PIN is still a secret.
	secrets := cardSecrets(t, s.cardsDir, map[string]string{"card1": testPINs["card1"], "card2": testPINs["card2"], "card3": "123456"})
	secrets["old PIN of card3"] = []byte(testPINs["card3"])
	s.mu.Lock()
	outs := map[string][]byte{"command output": append([]byte(nil), s.outputs.Bytes()...)}
	s.mu.Unlock()
	scan(t, secrets, s.dataDir, outs)
}

// TestCardResetRehearsal: 'ceremony rehearse --kind card-reset' resets
// the first rehearsal card after a generate; the card is in its factory
// state and the registry says it holds nothing.
func TestCardResetRehearsal(t *testing.T) {
	dir := t.TempDir()
	s := &site{t: t, dataDir: filepath.Join(dir, "data"), cardsDir: filepath.Join(dir, "cards"), outputs: &bytes.Buffer{}}
	if p := s.start("rehearse", "--cards-dir", s.cardsDir, "--id", "setup"); p.exit(t) != exitOK {
		t.Fatalf("setup generate:\n%s", p.output())
	}
	p := s.start("rehearse", "--kind", "card-reset", "--cards-dir", s.cardsDir, "--id", "reset-r")
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "share 1 of key set") || !strings.Contains(p.output(), "keeps 2 of 3 usable shares, quorum 2") {
		t.Fatalf("rehearsed reset: exit %d\n%s", code, p.output())
	}
	cl, c, pull := cardClient(t, filepath.Join(s.cardsDir, "card1.img"))
	if err := cl.Verify(openpgp.PW3, []byte("123456")); err != nil {
		t.Fatalf("card1 after the rehearsed reset: %v", err)
	}
	if do, err := cl.ReadPrivateDO(0x0104); err != nil || len(do) != 0 {
		t.Fatalf("card1's backup slot after the reset: %d bytes, %v", len(do), err)
	}
	pull()
	s.checkReplay(t, "reset-r")
	eng, views, st := s.openEngine(t)
	defer func() { eng.Close(); st.Close() }()
	if cr, _ := views.Inventory.Card(c.Serial()); cr.KeySetID != "" || !cr.DefaultPIN["PW3"] {
		t.Fatalf("registry entry of card1 after the reset: %+v", cr)
	}
}
