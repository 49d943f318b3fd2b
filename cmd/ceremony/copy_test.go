package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// TestShareCopy: a share is copied one-to-one onto an empty card, the copy
// loads the key; the 2-of-2 case warns and names the share lost; the
// source card is refused as target; a user card is refused as source with
// the reason.
func TestShareCopy(t *testing.T) {
	s := newSite(t)
	extra := map[string]string{"card4": "63544536", "card5": "54453627"}
	for i, name := range []string{"card4", "card5"} {
		pin := []byte(extra[name])
		if _, err := cardemu.Create(filepath.Join(s.cardsDir, name+".img"), cardemu.Options{Serial: uint32(0x4004 + i), PW1: pin, PW3: pin}); err != nil {
			t.Fatal(err)
		}
		testPINs[name] = extra[name]
		t.Cleanup(func() { delete(testPINs, name) })
	}
	g := s.start("generate", "--operator", "alice", "--id", "gen-c", "--cards-dir", s.cardsDir)
	g.send("")
	for _, c := range []string{"card1", "card2", "card3"} {
		g.send(cardTurn(c)...)
	}
	g.send("", "", "", testPINs["card3"])
	g.send(cardTurn("card1")...)
	if code := g.exit(t); code != exitOK {
		t.Fatalf("generate: exit %d\n%s", code, g.output())
	}

	// Onto an empty card; the source card itself is refused as target.
	p := s.start("copy", "--operator", "alice", "--id", "copy-1", "--cards-dir", s.cardsDir)
	p.send(cardTurn("card1")...)
	p.send("card1", "") // refused before its PIN: it is the source
	p.send(cardTurn("card4")...)
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "is the source") || !strings.Contains(p.output(), "Share 1 copied") {
		t.Fatalf("copy: exit %d\n%s", code, p.output())
	}
	l := s.start("load", "--operator", "bob", "--id", "load-c", "--cards-dir", s.cardsDir)
	l.send("")
	l.send(cardTurn("card4")...)
	l.send(cardTurn("card3")...)
	if code := l.exit(t); code != exitOK {
		t.Fatalf("load with the copy: exit %d\n%s", code, l.output())
	}

	// The 2-of-2 case: share 2 over the only card holding share 3.
	p = s.start("copy", "--operator", "alice", "--id", "copy-2", "--cards-dir", s.cardsDir)
	p.send(cardTurn("card2")...)
	p.send(cardTurn("card3")...)
	p.send("") // OK: overwrite after the warning
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "only card holding share 3") || !strings.Contains(p.output(), "margin") {
		t.Fatalf("2-of-2 copy: exit %d\n%s", code, p.output())
	}
	if code, out := s.runCLI(t, "show", "copy-2"); code != exitOK || !strings.Contains(out, "share 2 of key set") || !strings.Contains(out, "FFFE00004003") {
		t.Fatalf("show copy-2: exit %d\n%s", code, out)
	}
	_, ev := s.runCLI(t, "events", "copy-2")
	if !strings.Contains(ev, "sharecopy.redundancy_warning") || !strings.Contains(ev, "backupkey.overwrite_confirmed") {
		t.Fatalf("copy-2 events:\n%s", ev)
	}

	// A user card (a key made on the card, no share) cannot be copied.
	cl, _, pull := cardClient(t, filepath.Join(s.cardsDir, "card5.img"))
	if err := cl.Verify(openpgp.PW3, []byte(extra["card5"])); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GenerateDecryptionKey(); err != nil {
		t.Fatal(err)
	}
	pull()
	p = s.start("copy", "--operator", "alice", "--id", "copy-3", "--cards-dir", s.cardsDir)
	p.send(cardTurn("card5")...)
	p.send("", "c") // no card at the next "Insert 1. card", and Cancel
	if code := p.exit(t); code != exitNotDone || !strings.Contains(p.output(), "a user card cannot be copied") {
		t.Fatalf("copy of a user card: exit %d\n%s", code, p.output())
	}
	s.scanForSecrets(t)
}
