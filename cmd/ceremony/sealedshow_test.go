package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const locatorUsed = "locator used"

// errorLines returns the lines of standard error that are not debug notes.
func errorLines(stderr string) string {
	var out []string
	for line := range strings.Lines(stderr) {
		if !strings.HasPrefix(line, "debug: ") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// locatorArea returns the offsets in the locator file b of ceremony id's
// table entry and of its first location (the layout of
// adapters/jetstream/locator.go).
func locatorArea(t *testing.T, b []byte, id string) (entry, first int) {
	t.Helper()
	table := bytes.IndexByte(b, '\n') + 1
	le := binary.LittleEndian
	for e := table; e+20 <= len(b); e += 20 {
		area := int(le.Uint64(b[e+8:]))
		if area+2 > len(b) || area < table {
			break
		}
		n := int(le.Uint16(b[area:]))
		if string(b[area+2:area+2+n]) == id {
			return e, area + 2 + n
		}
	}
	t.Fatalf("locator has no ceremony %s", id)
	return 0, 0
}

// TestShowWithoutServerWhenSealed: on a store a writer closed in order,
// show and events answer from the block files through the locator next
// to the seal, without starting the server, and print exactly what they
// print through the server, for ceremonies ended and open, and the same
// not-found error for an id the store does not hold. A locator changed,
// cut, naming another seal, stale, or leaving an event out, a touched
// block file, and an append by another writer each make them start the
// server, saying why, with the same output; a writer's orderly close
// makes the locator usable again, and the next one builds on it.
func TestShowWithoutServerWhenSealed(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	data := filepath.Join(t.TempDir(), "data")
	buildOpenStore(t, data, 400) // 20 ceremonies; every tenth stops after 10 events
	locPath := filepath.Join(data, "store-seal-locator.bin")
	good, err := os.ReadFile(locPath)
	if err != nil {
		t.Fatalf("no locator next to the seal after a writer's close: %v", err)
	}
	ids := []string{"gen-0000000", "gen-0000009", "gen-0000013", "gen-0000019"}
	commands := [][]string{{"show"}, {"events"}, {"events", "--json"}}

	// reads runs show and events on ids and checks which path each took
	// and that its debug note says wantWhy.
	reads := func(what, wantPath, wantWhy string, ids ...string) string {
		t.Helper()
		var outs []string
		for _, id := range ids {
			for _, c := range commands {
				args := append(append(append([]string{}, c...), id), "--data-dir", data)
				out, dbg, code := debugRunCode(t, args...)
				fast := strings.Contains(dbg, locatorUsed) && !strings.Contains(dbg, serverOpened)
				slow := !strings.Contains(dbg, locatorUsed) && strings.Contains(dbg, serverOpened)
				if (wantPath == "fast" && !fast) || (wantPath == "server" && !slow) || !strings.Contains(dbg, wantWhy) {
					t.Fatalf("%s: %v took the wrong path (want %s, saying %q):\n%s", what, args, wantPath, wantWhy, dbg)
				}
				outs = append(outs, strings.Join(args[:len(args)-2], " ")+"\n"+out)
				if code != exitOK {
					outs = append(outs, fmt.Sprintf("exit %d: %s", code, errorLines(dbg)))
				}
			}
		}
		return strings.Join(outs, "\n")
	}
	// server runs them through the server: the locator set aside.
	server := func(what string, ids ...string) string {
		t.Helper()
		return setAside(t, locPath, func() string {
			return reads(what+" (locator set aside)", "server", "no such file", ids...)
		})
	}
	put := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(locPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	fast := reads("untouched store", "fast", locatorUsed, ids...)
	if !strings.Contains(fast, "hash chain: 20 events") || !strings.Contains(fast, "hash chain: 10 events") || !strings.Contains(fast, "ceremony resume gen-0000009") {
		t.Fatalf("show and events through the locator show no ceremony:\n%.3000s", fast)
	}
	if want := server("untouched store", ids...); fast != want {
		t.Fatalf("through the locator:\n%.3000s\nthrough the server:\n%.3000s", fast, want)
	}

	// An id the store does not hold: the same error and exit code.
	out, dbg, code := debugRunCode(t, "show", "gen-0000999", "--data-dir", data)
	if code != exitNotFound || !strings.Contains(dbg, locatorUsed) || !strings.Contains(dbg, `no ceremony "gen-0000999" in this event store`) {
		t.Fatalf("show of an unknown id through the locator: exit %d\n%s\n%s", code, out, dbg)
	}
	os.Remove(locPath)
	out2, dbg2, code2 := debugRunCode(t, "show", "gen-0000999", "--data-dir", data)
	put(good)
	if code2 != code || out2 != out || errorLines(dbg2) != errorLines(dbg) {
		t.Fatalf("show of an unknown id: through the locator exit %d %q %q, through the server exit %d %q %q", code, out, errorLines(dbg), code2, out2, errorLines(dbg2))
	}

	// A changed, cut, foreign or incomplete locator.
	one := reads("untouched store", "fast", locatorUsed, "gen-0000013")
	entry, first := locatorArea(t, good, "gen-0000013")
	moved := bytes.Clone(good)
	moved[first+4] ^= 0x10 // the first event's byte offset in its block
	short := bytes.Clone(good)
	binary.LittleEndian.PutUint32(short[entry+16:], binary.LittleEndian.Uint32(short[entry+16:])-1) // its last event left out
	i := bytes.Index(good, []byte(`"seal_sha256":"`)) + len(`"seal_sha256":"`)
	foreign := bytes.Clone(good)
	copy(foreign[i:], strings.Repeat("0", 64)) // names another seal, all else as it was
	for _, c := range []struct {
		name, why string
		data      []byte
	}{
		{"event moved", "stream sequence", moved},
		{"event left out", "the sealed projection counts 20", short},
		{"cut locator", "cut short", good[:len(good)-10]},
		{"locator of another seal", "belongs to another seal", foreign},
		{"locator with a bad header", "header does not decode", append([]byte("{\"format\":1}\n"), good...)},
	} {
		put(c.data)
		if got := reads(c.name, "server", c.why, "gen-0000013"); got != one {
			t.Errorf("%s: through the server:\n%.2000s\nwant:\n%.2000s", c.name, got, one)
		}
	}
	put(good)
	reads("locator put back", "fast", locatorUsed, "gen-0000013")

	// A block file touched back to its own modification time.
	touchFirstBlock(t, data)
	// The first read through the server writes a new seal, which the
	// locator does not name.
	touched, dbg, code := debugRunCode(t, "show", "gen-0000013", "--data-dir", data)
	if !strings.Contains(dbg, "not as store-seal.json describes them") || strings.Contains(dbg, locatorUsed) || !strings.HasPrefix(one, "show gen-0000013\n"+touched+"\n") {
		t.Fatalf("touched block file: show took the wrong path or printed another state: exit %d\n%s\n%s", code, touched, dbg)
	}
	if got := reads("after a touched block file", "server", "belongs to another seal", "gen-0000013"); got != one {
		t.Errorf("after a touched block file: through the server:\n%.2000s\nwant:\n%.2000s", got, one)
	}

	// An append by another writer whose close writes a new seal and no
	// locator: the files name the seal before it.
	appendBenchCeremony(t, data, 500)
	reads("after another writer's append", "server", "belongs to another seal", "gen-0000500")

	// A writer's orderly close (account add) writes the locator again,
	// the whole stream scanned; the next builds on it.
	stale, _ := os.ReadFile(locPath)
	for _, name := range []string{"olga", "oscar"} {
		var o strings.Builder
		if code := run(context.Background(), []string{"account", "add", name, "--role", "operator", "--data-dir", data}, strings.NewReader("a-long-password-for-"+name+"\n"), &o, &o); code != exitOK {
			t.Fatalf("account add: exit %d\n%s", code, o.String())
		}
		got := reads("after a writer's close", "fast", locatorUsed, "gen-0000500", "gen-0000013")
		if want := server("after a writer's close", "gen-0000500", "gen-0000013"); got != want {
			t.Errorf("through the locator the writer left:\n%.2000s\nthrough the server:\n%.2000s", got, want)
		}
	}
	// The locator of an earlier seal left by a writer that wrote none
	// (an older build).
	put(stale)
	reads("stale locator", "server", "belongs to another seal", "gen-0000500")
}
