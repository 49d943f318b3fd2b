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

// TestHealthReportsKilledCeremony: right after the process running a
// ceremony is killed, health reports that no process is running it, not
// only after the step deadline; once it is aborted, it does not.
func TestHealthReportsKilledCeremony(t *testing.T) {
	s := newSite(t)
	if code := s.start("rehearse", "--cards-dir", s.cardsDir, "--id", "gen-k", "--kill-after", "4").exit(t); code != -1 {
		t.Fatalf("the rehearsal was not killed (exit %d)", code)
	}
	_, out := s.runCLI(t, "health")
	if !strings.Contains(out, "ceremony gen-k") || !strings.Contains(out, "no process is running it") || !strings.Contains(out, "ceremony resume gen-k") {
		t.Fatalf("health right after the kill does not report gen-k as not running:\n%s", out)
	}
	if code, out := s.runCLI(t, "abort", "gen-k", "--reason", "drill", "--operator", "carol"); code != exitOK {
		t.Fatalf("abort: exit %d\n%s", code, out)
	}
	if _, out := s.runCLI(t, "health"); strings.Contains(out, "no process is running it") {
		t.Fatalf("health after the abort:\n%s", out)
	}
}
