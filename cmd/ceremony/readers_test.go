package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
)

// TestReadersWhileACeremonyHoldsTheCard: 'ceremony readers' opens no data
// directory (a standalone ceremony holds it), gives up on a card another
// process holds after --timeout and says so, names the ceremony and the
// process holding the reader when a 'ceremony serve' makes the store
// reachable, and ends at once on SIGTERM, listing or watching. Through a
// real pcscd and vpcd, a daemon of its own for each subtest: the first
// leaves a client killed while SCardConnect waited on a held card, after
// which pcscd sometimes never reported the next insertion in that reader
// (the through-serve generate then waited 60 s at "Insert 1. card").
func TestReadersWhileACeremonyHoldsTheCard(t *testing.T) {
	reader := "Virtual PCD 00 00"

	// holdCard starts a generate on s and waits until its step has card1
	// to itself (the PIN prompt).
	holdCard := func(t *testing.T, s *site, op *operator, id string) *proc {
		t.Helper()
		p := s.start("generate", "--operator", "alice", "--id", id, "--reader", reader, "--step-timeout", "5m")
		p.waitFor(t, "Write New Key")
		p.send("")
		p.waitCount(t, "Insert 1. card", 1)
		op.insert("card1")
		p.send("")
		p.waitCount(t, "Enter PIN ", 1)
		return p
	}

	t.Run("a standalone ceremony holds the store and the card", func(t *testing.T) {
		d := pcscdtest.Start(t)
		s := newSite(t)
		op := &operator{t: t, addr: d.VpcdAddr(0), s: s}
		defer op.pull()
		gen := holdCard(t, s, op, "gen-held")
		defer gen.kill9(t)

		code, out := s.runCLI(t, "readers", "--timeout", "1s")
		for _, want := range []string{reader, "another process holds the card exclusively (a running ceremony?)", "HOLDS ?: no 'ceremony serve' runs on " + s.dataDir} {
			if code != exitOK || !strings.Contains(out, want) {
				t.Errorf("readers while a ceremony holds the card: exit %d, want %q:\n%s", code, want, out)
			}
		}
		if strings.Contains(out, "open the event store") {
			t.Errorf("readers opened the data directory:\n%s", out)
		}

		r := s.start("readers", "--timeout", "1h")
		r.waitFor(t, "waiting up to 1h0m0s")
		if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := r.exit(t); code != exitError || !strings.Contains(r.output(), "interrupted") {
			t.Errorf("readers on SIGTERM while it waits for a held card: exit %d\n%s", code, r.output())
		}

		w := s.start("readers", "--watch", "--timeout", "1s")
		w.waitFor(t, "Watching the readers")
		w.waitFor(t, "card inserted")
		w.waitCount(t, "another process holds the card exclusively", 2) // the list's row, then the watch's line
		if err := w.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := w.exit(t); code != exitOK || !strings.Contains(w.output(), "Stopped watching.") {
			t.Errorf("readers --watch on SIGINT: exit %d\n%s", code, w.output())
		}
	})

	t.Run("through serve the reader's lease names the ceremony and its process", func(t *testing.T) {
		d := pcscdtest.Start(t)
		s := newSite(t)
		op := &operator{t: t, addr: d.VpcdAddr(0), s: s}
		defer op.pull()
		srv := s.start("serve")
		srv.waitFor(t, "clients find it through")
		gen := holdCard(t, s, op, "gen-served")
		code, out := s.runCLI(t, "readers", "--timeout", "1s")
		want := "held by ceremony gen-served, run by pid " + strconv.Itoa(gen.cmd.Process.Pid)
		if code != exitOK || !strings.Contains(out, want) || strings.Contains(out, "HOLDS ?") {
			t.Errorf("readers through serve: exit %d, want %q and what cards hold:\n%s", code, want, out)
		}
		gen.kill9(t)
		srv.cmd.Process.Signal(syscall.SIGTERM)
		if code := srv.exit(t); code != exitOK {
			t.Errorf("serve: exit %d\n%s", code, srv.output())
		}
	})

	t.Run("card-emulator puts its card back when pcscd is back", func(t *testing.T) {
		d := pcscdtest.Start(t)
		s := newSite(t)
		e := s.startBare("card-emulator", "--vpcd", d.VpcdAddr(1), "--card", filepath.Join(s.cardsDir, "card2.img"))
		e.waitFor(t, "inserted")
		d.Kill()
		e.waitFor(t, "pcscd went away")
		d.Restart(t)
		e.waitCount(t, "inserted", 2)
		code, out := s.runCLI(t, "readers", "--timeout", "5s")
		if code != exitOK || !strings.Contains(out, "FFFE00004002") {
			t.Errorf("readers after pcscd came back: exit %d, want the emulated card in reader 1:\n%s", code, out)
		}
		e.send("quit")
		if code := e.exit(t); code != exitOK {
			t.Errorf("card-emulator: exit %d\n%s", code, e.output())
		}
	})
}
