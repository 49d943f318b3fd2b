package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
)

// dropCheckpoint leaves the store a checkpoint no command can use, so
// that the next one replays the whole stream.
func dropCheckpoint(t *testing.T, data string) {
	t.Helper()
	withStore(t, data, func(st *jetstream.Store) {
		if err := st.SaveProjection(context.Background(), map[string][]byte{kinds.PartMeta: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWriterAppliesOnlyTheTail: a command that records (abort) opens from
// the projection checkpoint the writer left and applies only the events
// after it: the first abort none, the second the first's one event. Each
// aborted ceremony is known from the checkpoint only and is loaded from
// its own events (its start and 9 more); the abort says what a full
// replay's says (the same store built again, its checkpoint dropped).
func TestWriterAppliesOnlyTheTail(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	fromCP := filepath.Join(t.TempDir(), "data")
	full := filepath.Join(t.TempDir(), "data")
	buildOpenStore(t, fromCP, 2000) // 1,900 events, 100 ceremonies; every tenth left open
	buildOpenStore(t, full, 2000)
	dropCheckpoint(t, full)

	applied := []string{"(0 events applied)", "(1 events applied)"}
	for i, id := range []string{"gen-0000019", "gen-0000009"} {
		args := []string{"abort", id, "--reason", "test", "--operator", "carol"}
		out, dbg, code := debugRunCode(t, append(args, "--data-dir", fromCP)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, dbg)
		}
		for _, want := range []string{
			"projection checkpoint: stream sequence 1900, 100 ceremonies; applying the events after it",
			applied[i],
			"ceremony " + id + " loaded from its own events (10)",
		} {
			if !strings.Contains(dbg, want) {
				t.Errorf("%v from the checkpoint: the debug notes do not say %q:\n%s", args, want, dbg)
			}
		}
		if strings.Contains(dbg, "replaying the whole stream") {
			t.Errorf("%v replays the whole stream although the checkpoint is usable:\n%s", args, dbg)
		}
		want, dbg, code := debugRunCode(t, append(args, "--data-dir", full)...)
		if code != exitOK || !strings.Contains(dbg, "replaying the whole stream") {
			t.Fatalf("%v after a full replay: exit %d\n%s\n%s", args, code, want, dbg)
		}
		if out != want {
			t.Errorf("%v from the checkpoint:\n%s\nafter a full replay:\n%s", args, out, want)
		}
	}
}

// TestResumeAndStartFromTheCheckpoint: a ceremony killed mid-way, at a
// step, and known only from the projection checkpoint (no event after
// it: the resume loads it from its subject, at the open since it waits
// at a step, see engine TestOpenFromRearmsOpenSteps; app.get's load is
// TestWriterAppliesOnlyTheTail's) is reported by health as run by no
// process, and is resumed to its end; a start then refuses its id, and a
// card it wrote is a share of a live key set to the next generate,
// exactly as after a full replay.
func TestResumeAndStartFromTheCheckpoint(t *testing.T) {
	t.Setenv(debugEnv, "1") // the subprocesses say how they opened the store
	s := newSite(t)
	p := s.start("generate", "--operator", "alice", "--quorum", "2-of-3", "--id", "gen-cp", "--cards-dir", s.cardsDir)
	p.send("")
	p.send(cardTurn("card1")...)
	p.send(cardTurn("card2")...)
	p.waitFor(t, "Insert 3. card") // after its step's deadline is stored
	p.kill9(t)
	withStore(t, s.dataDir, func(st *jetstream.Store) {
		if _, err := writeProjection(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	})
	fromCP := regexp.MustCompile(`projection checkpoint: stream sequence \d+, 1 ceremonies; applying the events after it`)
	// Known from the checkpoint only, nobody running it: health says so.
	if _, out := s.runCLI(t, "health"); !fromCP.MatchString(out) || !strings.Contains(out, "ceremony gen-cp") || !strings.Contains(out, "no process is running it") {
		t.Errorf("health from the checkpoint does not report gen-cp as not running:\n%s", out)
	}

	r := s.start("resume", "gen-cp", "--operator", "bob", "--cards-dir", s.cardsDir)
	r.send("")
	r.send(cardTurn("card2")...)
	r.send(cardTurn("card1")...)
	if code := r.exit(t); code != exitOK || !strings.Contains(r.output(), "completed") {
		t.Fatalf("resume: exit %d:\n%s", code, r.output())
	}
	if !fromCP.MatchString(r.output()) || !strings.Contains(r.output(), "(0 events applied)") {
		t.Errorf("resume did not open from the checkpoint alone:\n%s", r.output())
	}
	s.checkReplay(t, "gen-cp")

	// The resume saved a checkpoint at its close: gen-cp is in it, and no
	// event comes after it.
	n := len(s.storedTypes(t, "gen-cp"))
	g := s.start("generate", "--operator", "alice", "--id", "gen-cp", "--cards-dir", s.cardsDir)
	if code := g.exit(t); code == exitOK || !strings.Contains(g.output(), "a ceremony with this id exists") {
		t.Fatalf("generate --id of a ceremony known from the checkpoint: exit %d:\n%s", code, g.output())
	}
	if !strings.Contains(g.output(), "(0 events applied)") {
		t.Errorf("generate did not open from the checkpoint alone:\n%s", g.output())
	}
	if got := len(s.storedTypes(t, "gen-cp")); got != n {
		t.Errorf("the refused start changed gen-cp: %d events, want %d", got, n)
	}

	live := regexp.MustCompile(`Card \S+ holds share \d of the LIVE key set \S+ \(KCV \S+\)`)
	var said []string
	for i, id := range []string{"gen-next", "gen-next2"} {
		if i == 1 {
			dropCheckpoint(t, s.dataDir)
		}
		g := s.start("generate", "--operator", "alice", "--id", id, "--cards-dir", s.cardsDir)
		g.send("")
		g.send(cardTurn("card1")...)
		g.waitFor(t, "Overwriting it loses that share")
		g.kill9(t)
		how := "(0 events applied)"
		if i == 1 {
			how = "replaying the whole stream"
		}
		if !strings.Contains(g.output(), how) {
			t.Errorf("generate %s did not open as expected (%q):\n%s", id, how, g.output())
		}
		said = append(said, live.FindString(g.output()))
	}
	if said[0] == "" || said[0] != said[1] {
		t.Errorf("card1 of the live set, from the checkpoint: %q; after a full replay: %q", said[0], said[1])
	}
}
