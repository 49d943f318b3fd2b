package main

import (
	"context"
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
	t    *testing.T
	addr string
	s    *site
	in   *vpcd.Inserted
}

func (o *operator) insert(name string) {
	o.t.Helper()
	o.pull()
	c, err := cardemu.Open(filepath.Join(o.s.cardsDir, name+".img"))
	if err != nil {
		o.t.Fatal(err)
	}
	if o.in, err = vpcd.Insert(context.Background(), o.addr, c); err != nil {
		o.t.Fatal(err)
	}
}

func (o *operator) pull() {
	if o.in != nil {
		o.in.Remove()
		o.in = nil
	}
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
		s.scanForSecrets(t)
	})
}
