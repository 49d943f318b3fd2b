package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: exit %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	code, out := runIn(t, "health", "--data-dir", data)
	if code != exitOK || !strings.Contains(out, "still on the factory default PIN (PW3)") || !strings.Contains(out, "pin change --slot backup") {
		t.Fatalf("health after the demo: exit %d\n%s", code, out)
	}

	// A 2-of-2 set whose card 1 gets blocked: the key cannot be rebuilt
	// from cards any more; health says so and exits 5.
	s := newSite(t)
	g := s.start("generate", "--operator", "alice", "--quorum", "2-of-2", "--id", "gen-22", "--cards-dir", s.cardsDir)
	g.send("")
	g.send(cardTurn("card1")...)
	g.send(cardTurn("card2")...)
	g.send("", "", "", testPINs["card2"])
	g.send(cardTurn("card1")...)
	if code := g.exit(t); code != exitOK {
		t.Fatalf("generate 2-of-2: exit %d\n%s", code, g.output())
	}
	if code, out := s.runCLI(t, "health"); code != exitOK || !strings.Contains(out, "no spare") {
		t.Fatalf("health of a 2-of-2 set: exit %d\n%s", code, out)
	}
	l := s.start("load", "--operator", "bob", "--id", "load-x", "--cards-dir", s.cardsDir)
	l.send("", "card1", "", "00000000", "00000000", "00000000", "", "c")
	if code := l.exit(t); code != exitNotDone {
		t.Fatalf("load with three wrong PINs: exit %d\n%s", code, l.output())
	}
	code, out = s.runCLI(t, "health")
	if code != exitCritical || !strings.Contains(out, "critical") || !strings.Contains(out, "only 1 usable distinct shares") || !strings.Contains(out, "blocked") {
		t.Fatalf("health with a blocked card: exit %d\n%s", code, out)
	}
}
