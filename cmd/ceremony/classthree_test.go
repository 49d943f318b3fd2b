package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/vpcd"
)

// TestPINChangeOnAClass3Reader runs 'ceremony pin change' in a subprocess
// through a real private pcscd, on the virtual class-3 PIN pad reader
// (adapters/pcsc/classthree): the PINs are typed on the reader's keypad,
// scripted on the card's side, and reach the card through pcscd's
// SCardControl (FEATURE_MODIFY_PIN_DIRECT) as with a cyberJack e-com. A
// wrong current PIN, then a confirmation that differs, then the change;
// the events say entry "reader", and no PIN typed is in the ceremony's
// output, the data directory or pcscd's log.
func TestPINChangeOnAClass3Reader(t *testing.T) {
	d := pcscdtest.StartWith(t, pcscdtest.Options{ClassThree: true})
	s := newSite(t)
	card, err := cardemu.Open(filepath.Join(s.cardsDir, "card1.img"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		newPIN   = "46802468"
		wrongPIN = "11335577"
		mismatch = "46802469"
	)
	oldPIN := testPINs["card1"]
	typed := func(pins ...string) []pinpad.Entry {
		var es []pinpad.Entry
		for _, p := range pins {
			es = append(es, pinpad.Entry{Kind: pinpad.PIN, PIN: p})
		}
		return es
	}
	pad := pinpad.NewScripted(nil)
	pad.Push(typed(wrongPIN, newPIN, newPIN)...) // a wrong current PIN
	pad.Push(typed(oldPIN, newPIN, mismatch)...) // the repetition differs
	pad.Push(typed(oldPIN, newPIN, newPIN)...)   // the change
	in, err := vpcd.InsertWithKeypad(context.Background(), d.ClassThreeAddr(), card, pad)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Remove()

	p := s.start("pin", "change", "--slot", "backup", "--operator", "alice", "--id", "pin-c3",
		"--reader", pcscdtest.ClassThreeReader, "--step-timeout", "1m")
	p.waitFor(t, "Insert 1. card")
	p.send("")
	p.waitFor(t, "is changed")
	if code := p.exit(t); code != exitOK {
		t.Fatalf("pin change: exit %d\n%s", code, p.output())
	}
	out := p.output()
	for _, want := range []string{"on the reader", "Wrong PIN        | 2 tries left", "the two entries of the new PIN differ", "The PW3 of card FFFE00004001 is changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	if left := pad.Lines(); len(left) != 9 {
		t.Errorf("the keypad showed %d prompts, want 9 (3 changes of 3 entries): %q", len(left), left)
	}

	// The events: entry "reader" wherever a PIN was typed.
	eng, _, st := s.openEngine(t)
	recs, err := st.Load(context.Background(), "pin-c3")
	eng.Close()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		payload := string(r.Envelope.Payload)
		switch r.Type {
		case "pin.change_requested", "pin.changed", "card.pin_rejected":
			if !strings.Contains(payload, `"entry":"reader"`) {
				t.Errorf("%s does not say entry reader: %s", r.Type, payload)
			}
		case "card.presented":
			if !strings.Contains(payload, "class3-pinpad") {
				t.Errorf("the card was presented in a reader that is not class 3: %s", payload)
			}
		}
		got[r.Type]++
	}
	for typ, n := range map[string]int{"card.presented": 1, "pin.change_requested": 3, "card.pin_rejected": 1, "pin.policy_refused": 1, "pin.changed": 1} {
		if got[typ] != n {
			t.Errorf("%d %s events, want %d: %v", got[typ], typ, n, got)
		}
	}
	s.checkReplay(t, "pin-c3")

	// The card has the new PIN (cardSecrets verifies PW3 with it), and no
	// PIN typed on the keypad is anywhere the ceremony wrote.
	in.Remove()
	secrets := cardSecrets(t, s.cardsDir, map[string]string{"card1": newPIN, "card2": testPINs["card2"], "card3": testPINs["card3"]})
	secrets["old PIN of card1"] = []byte(oldPIN)
	secrets["wrong PIN typed"] = []byte(wrongPIN)
	secrets["differing repetition typed"] = []byte(mismatch)
	scan(t, secrets, s.dataDir, map[string][]byte{"ceremony output": []byte(out), "pcscd log": []byte(d.Log())})
}

// TestGenerateOnAClass3Reader runs a 2-of-2 generate in a subprocess
// through the class-3 reader under a real private pcscd: every PIN is
// typed on the reader's keypad (scripted on the card's side) and checked
// by the card through FEATURE_VERIFY_PIN_DIRECT; the events say entry
// "reader", and no PIN, share or key is in the ceremony's output, the
// data directory or pcscd's log.
func TestGenerateOnAClass3Reader(t *testing.T) {
	d := pcscdtest.StartWith(t, pcscdtest.Options{ClassThree: true})
	s := newSite(t)
	pad := pinpad.NewScripted(nil)
	for _, name := range []string{"card1", "card2", "card2", "card1"} { // written, then read back
		pad.Push(pinpad.Entry{Kind: pinpad.PIN, PIN: testPINs[name]})
	}
	var in *vpcd.Inserted
	insert := func(name string) {
		t.Helper()
		c, err := cardemu.Open(filepath.Join(s.cardsDir, name+".img"))
		if err != nil {
			t.Fatal(err)
		}
		if in, err = vpcd.InsertWithKeypad(context.Background(), d.ClassThreeAddr(), c, pad); err != nil {
			t.Fatal(err)
		}
	}
	pull := func() {
		t.Helper()
		if in == nil {
			return
		}
		in.Remove()
		in = nil
		waitNoCard(t, pcscdtest.ClassThreeReader)
	}
	defer pull()

	p := s.start("generate", "--operator", "alice", "--quorum", "2-of-2", "--id", "gen-c3",
		"--reader", pcscdtest.ClassThreeReader, "--step-timeout", "1m")
	p.waitFor(t, "Write New Key")
	p.send("")
	for i, name := range []string{"card1", "card2"} {
		p.waitCount(t, "Insert ", i+1)
		insert(name)
		p.send("")
		p.waitCount(t, "written to card", i+1)
		if i == 0 {
			p.waitCount(t, "Remove card", 1)
			pull()
		}
	}
	p.waitFor(t, "Read New Key")
	p.send("")
	p.waitCount(t, "Insert 1. card", 2)
	p.send("") // card2 stays in the reader
	p.waitCount(t, "Remove card", 2)
	pull()
	p.waitCount(t, "Insert 2. card", 2)
	insert("card1")
	p.send("")
	if code := p.exit(t); code != exitOK {
		t.Fatalf("generate on the class-3 reader: exit %d\n%s", code, p.output())
	}
	pull()
	if strings.Contains(p.output(), "[type the PIN") {
		t.Fatalf("the ceremony asked for a PIN on the host:\n%s", p.output())
	}

	eng, _, st := s.openEngine(t)
	recs, err := st.Load(context.Background(), "gen-c3")
	eng.Close()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	verified := 0
	for _, r := range recs {
		if r.Type == "card.pin_verified" {
			verified++
			if !strings.Contains(string(r.Envelope.Payload), `"entry":"reader"`) {
				t.Errorf("a PIN verified elsewhere than on the reader: %s", r.Envelope.Payload)
			}
		}
	}
	if verified != 4 {
		t.Errorf("%d card.pin_verified events, want 4 (2 written, 2 read back)", verified)
	}
	s.checkReplay(t, "gen-c3")
	scan(t, cardSecrets(t, s.cardsDir, testPINs), s.dataDir, map[string][]byte{"ceremony output": []byte(p.output()), "pcscd log": []byte(d.Log())})
}

// waitNoCard waits until pcscd sees no card in the reader, asked with
// OpenSC's opensc-tool in a subprocess (this process makes no PC/SC call:
// pcsc-lite would bind it to the first daemon it met).
func waitNoCard(t *testing.T, reader string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("opensc-tool", "-l").CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); strings.HasSuffix(line, reader) && len(f) > 1 && f[1] == "No" {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pcscd still sees a card in %s 10 s after it was pulled", reader)
}

// TestCardEmulatorPINPad: 'ceremony card-emulator --pinpad' plugs a card
// into the class-3 reader and is its keypad; 'ceremony pin change' in
// another process changes the PIN with the PINs typed into the emulator,
// never into the ceremony.
func TestCardEmulatorPINPad(t *testing.T) {
	d := pcscdtest.StartWith(t, pcscdtest.Options{ClassThree: true})
	s := newSite(t)
	const newPIN = "57913579"
	oldPIN := testPINs["card1"]
	e := s.startBare("card-emulator", "--vpcd", d.ClassThreeAddr(), "--pinpad", "--card", filepath.Join(s.cardsDir, "card1.img"))
	e.waitFor(t, "inserted")
	p := s.start("pin", "change", "--slot", "backup", "--operator", "alice", "--id", "pin-emu",
		"--reader", pcscdtest.ClassThreeReader, "--step-timeout", "1m")
	p.waitFor(t, "Insert 1. card")
	p.send("")
	for i, pin := range []string{oldPIN, newPIN, newPIN} {
		e.waitCount(t, "[reader keypad]", i+1)
		e.send(pin)
	}
	p.waitFor(t, "is changed")
	if code := p.exit(t); code != exitOK {
		t.Fatalf("pin change: exit %d\n%s", code, p.output())
	}
	e.send("quit")
	if code := e.exit(t); code != exitOK {
		t.Fatalf("card-emulator: exit %d\n%s", code, e.output())
	}
	secrets := cardSecrets(t, s.cardsDir, map[string]string{"card1": newPIN, "card2": testPINs["card2"], "card3": testPINs["card3"]})
	secrets["old PIN of card1"] = []byte(oldPIN)
	scan(t, secrets, s.dataDir, map[string][]byte{"ceremony output": []byte(p.output()), "pcscd log": []byte(d.Log())})
}
