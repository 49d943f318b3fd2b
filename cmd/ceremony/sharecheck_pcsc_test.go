package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
)

// TestShareCheckThroughPCSC: a share check of all three cards of a 2-of-3
// set through a real pcscd, the card emulator behind the vsmartcard vpcd
// driver, cards inserted and pulled one at a time; each share is checked
// against its commitment, the reader is recorded, and no PIN or share
// reaches a file or an output. The process checking is killed after the
// first card and the check resumed by another operator, who is recorded.
func TestShareCheckThroughPCSC(t *testing.T) {
	d := pcscdtest.Start(t)
	s := newSite(t)
	generateSet(t, s, "gen-p") // on the emulated cards directly, before they go into vpcd
	op := &operator{t: t, addr: d.VpcdAddr(0), s: s}
	defer op.pull()
	reader := "Virtual PCD 00 00"

	// present inserts each card of names into the reader of p's share
	// check, the first at p's first "Insert" prompt.
	present := func(p *proc, names ...string) {
		t.Helper()
		for i, name := range names {
			if i > 0 {
				p.waitCount(t, "Another card?", i)
				p.send("")
			}
			p.waitCount(t, "Insert ", i+1)
			op.insert(name)
			p.send("")
			p.waitCount(t, "Enter PIN ", i+1)
			p.send(testPINs[name])
			p.waitCount(t, "verified against its commitment", i+1)
			p.waitCount(t, "Remove card", i+1)
			op.pull()
		}
	}
	// Carol checks card2; her process dies; Dave resumes and checks the
	// other two: the events after the stop are his.
	p := s.start("share-check", "--operator", "carol", "--id", "check-p", "--reader", reader, "--step-timeout", "1m")
	present(p, "card2")
	p.waitCount(t, "Another card?", 1)
	p.kill9(t)
	p = s.start("resume", "check-p", "--operator", "dave", "--reader", reader, "--step-timeout", "1m")
	p.waitFor(t, "Another card?")
	p.send("")
	present(p, "card3", "card1")
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "every share of key set") {
		t.Fatalf("share check through pcscd, resumed: exit %d\n%s", code, p.output())
	}
	if _, ev := s.runCLI(t, "events", "check-p", "--json"); !strings.Contains(ev, `"type":"ceremony.resumed"`) || !strings.Contains(ev, `"by":"dave"`) {
		t.Fatalf("events of check-p: the resumption by dave is not recorded:\n%s", ev)
	}
	_, show := s.runCLI(t, "show", "check-p")
	if !strings.Contains(show, "3 of 3 (threshold 2): 1, 2, 3") || !strings.Contains(show, "dave") {
		t.Fatalf("show check-p:\n%s", show)
	}
	_, ev := s.runCLI(t, "events", "check-p", "--json")
	if strings.Count(ev, `"reader":"`+reader+`"`) < 3 || strings.Count(ev, "sharecheck.share_verified") != 3 {
		t.Fatalf("events of check-p: the cards were not presented through %s, or not all verified:\n%s", reader, ev)
	}
	_, cards := s.runCLI(t, "cards")
	if strings.Count(cards, "FFFE0000400") < 3 {
		t.Fatalf("cards:\n%s", cards)
	}
	s.scanForSecrets(t)
}

// TestShareCheckRehearsal: 'ceremony rehearse --kind share-check' checks
// every card of a rehearsed generate; on cards that hold no share it
// stops and says to rehearse a generate first.
func TestShareCheckRehearsal(t *testing.T) {
	dir := t.TempDir()
	s := &site{t: t, dataDir: filepath.Join(dir, "data"), cardsDir: filepath.Join(dir, "cards"), outputs: &bytes.Buffer{}}
	p := s.start("rehearse", "--kind", "share-check", "--cards-dir", s.cardsDir, "--id", "check-empty")
	if code := p.exit(t); code == exitOK || !strings.Contains(p.output(), "rehearse a generate first") {
		t.Fatalf("share check rehearsal on empty cards: exit %d\n%s", code, p.output())
	}
	if p := s.start("rehearse", "--cards-dir", s.cardsDir, "--id", "setup"); p.exit(t) != exitOK {
		t.Fatalf("setup generate:\n%s", p.output())
	}
	p = s.start("rehearse", "--kind", "share-check", "--cards-dir", s.cardsDir, "--id", "check-r")
	if code := p.exit(t); code != exitOK || strings.Count(p.output(), "verified against its commitment") != 3 || !strings.Contains(p.output(), "every share of key set") {
		t.Fatalf("rehearsed share check: exit %d\n%s", code, p.output())
	}
	s.checkReplay(t, "check-r")
}
