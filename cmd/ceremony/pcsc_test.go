package main

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
	"github.com/ceremony-hsm/ceremony/adapters/vpcd"
)

// waitCount waits until s appears n times in the output (a liveness
// bound, not a speed assertion).
func (p *proc) waitCount(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(p.output(), s) < n {
		select {
		case <-p.done:
			if strings.Count(p.output(), s) >= n {
				return
			}
			t.Fatalf("the process ended before %q appeared %d times:\n%s", s, n, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q did not appear %d times in 60s:\n%s", s, n, p.output())
		}
	}
}

// operator inserts and pulls emulated cards in a vpcd reader of pcscd,
// one at a time, as a person would with one physical reader.
type operator struct {
	t      *testing.T
	addr   string
	reader int // the vpcd reader index of addr
	s      *site
	in     *vpcd.Inserted
}

func (o *operator) insert(name string) { o.insertTorn(name, -1) }

// insertTorn inserts a card whose next private DO write is torn after
// keep bytes (keep < 0: no fault).
func (o *operator) insertTorn(name string, keep int) {
	o.t.Helper()
	o.pull()
	c, err := cardemu.Open(filepath.Join(o.s.cardsDir, name+".img"))
	if err != nil {
		o.t.Fatal(err)
	}
	if keep >= 0 {
		c.TearNextWrite(keep)
	}
	if o.in, err = vpcd.Insert(context.Background(), o.addr, c); err != nil {
		o.t.Fatal(err)
	}
}

// pull takes the card out and waits until pcscd has seen it go (it polls
// vpcd every 400 ms), so the next step does not meet a stale card.
func (o *operator) pull() {
	if o.in == nil {
		return
	}
	o.in.Remove()
	o.in = nil
	o.waitEmpty()
}

// waitEmpty waits until pcscd sees no card in the operator's reader.
func (o *operator) waitEmpty() {
	o.t.Helper()
	// Asked with OpenSC's opensc-tool in a subprocess: pcsc-lite reads the
	// daemon's socket name once per process, and a test run may start a
	// new daemon (-count=N); a tool independent of the code under test.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("opensc-tool", "-l").CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); strings.HasSuffix(line, pcscdtest.ReaderName(o.reader)) && len(f) > 1 && f[1] == "No" {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	o.t.Fatalf("pcscd still sees a card in reader %d after 10 s", o.reader)
}

// TestThroughPCSC runs the Backup Key ceremonies through a real pcscd with
// the card emulator behind the vsmartcard vpcd driver, one reader, cards
// inserted and pulled one at a time.
func TestThroughPCSC(t *testing.T) {
	d := pcscdtest.Start(t)
	s := newSite(t)
	op := &operator{t: t, addr: d.VpcdAddr(0), s: s}
	defer op.pull()
	reader := "Virtual PCD 00 00"

	t.Run("readers lists the reader and the card without spending a try", func(t *testing.T) {
		op.insert("card1")
		code, out := s.runCLI(t, "readers")
		if code != exitOK || !strings.Contains(out, reader) || !strings.Contains(out, "FFFE00004001") || !strings.Contains(out, "3") {
			t.Fatalf("readers: exit %d\n%s", code, out)
		}
		op.pull()
	})

	t.Run("generate and load with cards swapped in one reader", func(t *testing.T) {
		p := s.start("generate", "--operator", "alice", "--id", "gen-pcsc", "--reader", reader, "--step-timeout", "1m")
		p.waitFor(t, "Write New Key")
		p.send("")
		for i, name := range []string{"card1", "card2", "card3"} {
			p.waitCount(t, "Insert ", i+1)
			op.insert(name)
			p.send("")
			p.waitCount(t, "Enter PIN ", i+1)
			p.send(testPINs[name])
			p.waitCount(t, "written to card", i+1)
			if i < 2 {
				p.waitCount(t, "Remove card", i+1)
				op.pull()
			}
		}
		p.waitFor(t, "Read New Key")
		p.send("")
		p.waitCount(t, "Insert 1. card", 2)
		p.send("") // card3 stays in the reader
		p.waitCount(t, "Enter PIN ", 4)
		p.send(testPINs["card3"])
		p.waitCount(t, "Remove card", 3)
		op.pull()
		p.waitCount(t, "Insert 2. card", 2)
		op.insert("card1")
		p.send("")
		p.waitCount(t, "Enter PIN ", 5)
		p.send(testPINs["card1"])
		if code := p.exit(t); code != exitOK {
			t.Fatalf("generate through pcscd: exit %d\n%s", code, p.output())
		}
		op.pull()
		s.checkReplay(t, "gen-pcsc")

		// A load ceremony through pcscd: cards 2 then 3.
		l := s.start("load", "--operator", "bob", "--id", "load-pcsc", "--reader", reader, "--step-timeout", "1m")
		l.waitFor(t, "Read Key")
		l.send("")
		for i, name := range []string{"card2", "card3"} {
			l.waitCount(t, "Insert ", i+1)
			op.insert(name)
			l.send("")
			l.waitCount(t, "Enter PIN ", i+1)
			l.send(testPINs[name])
			l.waitCount(t, "accepted", i+1)
			if i == 0 {
				l.waitCount(t, "Remove card", 1)
				op.pull()
			}
		}
		if code := l.exit(t); code != exitOK || !strings.Contains(l.output(), "Backup Key loaded") {
			t.Fatalf("load through pcscd: exit %d\n%s", code, l.output())
		}
		op.pull()

		// OpenSC, which no one here wrote, reads back what the engine wrote.
		op.insert("card1")
		cmd := exec.Command("openpgp-tool", "--verify", "CHV3", "--pin", testPINs["card1"], "--do", "0104")
		got, err := cmd.CombinedOutput()
		op.pull()
		if err != nil {
			t.Fatalf("openpgp-tool: %v\n%s", err, got)
		}
		var tool strings.Builder // the hex dump: up to 16 "XX " columns a line, then ASCII
		for _, line := range strings.Split(string(got), "\n") {
			if strings.HasPrefix(line, "Using reader") {
				continue
			}
			for _, f := range strings.Fields(line[:min(len(line), 48)]) {
				if len(f) == 2 && strings.Trim(f, "0123456789ABCDEF") == "" {
					tool.WriteString(f)
				}
			}
		}
		record := cardSecrets(t, s.cardsDir, map[string]string{"card1": testPINs["card1"]})["share record of card1"]
		if want := strings.ToUpper(hex.EncodeToString(record)); tool.String() != want {
			t.Fatalf("openpgp-tool read %s, the engine wrote %s:\n%s", tool.String(), want, got)
		}
		s.scanForSecrets(t)
	})

	t.Run("readers --watch reports cards coming and going", func(t *testing.T) {
		w := s.start("readers", "--watch")
		w.waitFor(t, "Watching the readers")
		op.insert("card2")
		defer func() {
			if t.Failed() {
				t.Logf("watch output:\n%s\npcscd log:\n%s", w.output(), d.Log())
			}
		}()
		w.waitFor(t, "serial FFFE00004002")
		op.pull()
		w.waitFor(t, "card removed")
		w.cmd.Process.Kill()
		<-w.done
	})

	t.Run("card-emulator plugs cards into vpcd and swaps them", func(t *testing.T) {
		e := s.startBare("card-emulator", "--vpcd", d.VpcdAddr(1), "--card", filepath.Join(s.cardsDir, "card1.img"))
		e.waitFor(t, "inserted")
		reader1 := "Virtual PCD 00 01"
		waitReaders := func(want string) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, out := s.runCLI(t, "readers")
				for _, line := range strings.Split(out, "\n") {
					if strings.HasPrefix(line, reader1) && strings.Contains(line, want) {
						return
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("reader %s never showed %q:\n%s", reader1, want, out)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		waitReaders("FFFE00004001")
		e.send("insert " + filepath.Join(s.cardsDir, "card2.img"))
		e.waitCount(t, "inserted", 2)
		waitReaders("FFFE00004002")
		e.send("pull")
		e.waitCount(t, "pulled", 2)
		waitReaders(" -")
		e.send("quit")
		if code := e.exit(t); code != exitOK {
			t.Fatalf("card-emulator: exit %d\n%s", code, e.output())
		}
	})

	t.Run("a card pulled mid-write and pcscd killed mid-step", func(t *testing.T) {
		s := newSite(t) // new cards: the others hold shares of a live set now
		op := &operator{t: t, addr: d.VpcdAddr(0), s: s}
		defer op.pull()
		p := s.start("generate", "--operator", "alice", "--id", "gen-faults", "--reader", reader, "--step-timeout", "1m")
		p.waitFor(t, "Write New Key")
		p.send("")
		p.waitCount(t, "Insert 1. card", 1)
		op.insertTorn("card1", 10) // the write is torn: the card leaves the reader
		p.send("")
		p.waitCount(t, "Enter PIN ", 1)
		p.send(testPINs["card1"])
		p.waitFor(t, "write-failed")
		p.waitCount(t, "Insert 1. card", 2)
		op.insert("card1") // back in: rewritten and read back
		p.send("")
		p.waitCount(t, "Enter PIN ", 2)
		p.send(testPINs["card1"])
		p.waitFor(t, "Share 1 written")
		p.waitCount(t, "Remove card", 2)
		op.pull()

		p.waitCount(t, "Insert 2. card", 1)
		d.Kill() // pcscd dies while the ceremony waits for a card
		p.send("")
		p.waitFor(t, "waiting for it until the step's deadline")
		d.Restart(t)
		op.insert("card2")
		p.waitFor(t, "the reader is back")
		p.waitCount(t, "Enter PIN ", 3)
		p.send(testPINs["card2"])
		p.waitFor(t, "Share 2 written")
		p.waitCount(t, "Remove card", 3)
		op.pull()
		p.waitCount(t, "Insert 3. card", 1)
		op.insert("card3")
		p.send("")
		p.waitCount(t, "Enter PIN ", 4)
		p.send(testPINs["card3"])
		p.waitFor(t, "Read New Key")
		p.send("")
		p.waitCount(t, "Insert 1. card", 3)
		p.send("")
		p.waitCount(t, "Enter PIN ", 5)
		p.send(testPINs["card3"])
		p.waitCount(t, "Remove card", 4)
		op.pull()
		p.waitCount(t, "Insert 2. card", 2)
		op.insert("card2")
		p.send("")
		p.waitCount(t, "Enter PIN ", 6)
		p.send(testPINs["card2"])
		if code := p.exit(t); code != exitOK {
			t.Fatalf("generate with faults: exit %d\n%s", code, p.output())
		}
		op.pull()
		types := strings.Join(s.storedTypes(t, "gen-faults"), " ")
		if !strings.Contains(types, "backupkey.share_write_failed") || strings.Count(types, "backupkey.share_written") != 3 {
			t.Fatalf("events: %s", types)
		}
		// Issue 13, defect 8: pcscd gone and back are events of the
		// ceremony and deviations in its report.
		_, evs := s.runCLI(t, "events", "gen-faults", "--json")
		for _, want := range []string{`"what":"service-lost"`, `"what":"service-back"`} {
			if strings.Count(evs, want) != 1 {
				t.Errorf("want one card.reader_event %s in the events:\n%s", want, evs)
			}
		}
		report := filepath.Join(t.TempDir(), "report.html")
		if code, out := s.runCLI(t, "audit", "report", "gen-faults", "--out", report); code != exitOK {
			t.Fatalf("report: exit %d\n%s", code, out)
		}
		html, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(html), "card, reader or pcscd lost or back") != 2 {
			t.Errorf("the report does not list pcscd lost and back as deviations:\n%s", html)
		}
		s.checkReplay(t, "gen-faults")
		s.scanForSecrets(t)
	})
}
