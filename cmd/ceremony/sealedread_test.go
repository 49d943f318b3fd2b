package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
)

const (
	sealedUsed   = "sealed projection file used"
	serverOpened = "connected to the event store"
)

// TestReadsWithoutServerWhenSealed: on a store a writer closed in order,
// list and cards answer from the projection checkpoint's copy next to the
// seal without starting the server, and print exactly what they print
// through the server. A damaged or cut copy, a touched stream file, and
// an append by another writer (whose close writes a new seal but no copy)
// each make them start the server, saying why, with the same output as
// the server gives; a writer's orderly close makes the copy usable again.
func TestReadsWithoutServerWhenSealed(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	data := filepath.Join(t.TempDir(), "data")
	buildOpenStore(t, data, 400) // 20 ceremonies, the copy sealed as a writer's close does
	copyPath := filepath.Join(data, "store-seal-projection.bin")
	good, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatalf("no projection copy next to the seal after a writer's close: %v", err)
	}

	// reads runs list, then cards, and checks which path each took and
	// that list's debug note says wantWhy (a read through the server
	// rewrites a seal that no longer holds: cards then finds the copy
	// naming the seal before it).
	reads := func(what string, wantPath, wantWhy string) string {
		t.Helper()
		var outs []string
		for _, cmd := range []string{"list", "cards", "health"} {
			out, dbg, code := debugRunCode(t, cmd, "--data-dir", data)
			out = fmt.Sprintf("%s exit %d:\n%s", cmd, code, out)
			if cmd != "list" && wantPath == "server" {
				wantWhy = "sealed projection file not used"
			}
			fast := strings.Contains(dbg, sealedUsed) && !strings.Contains(dbg, serverOpened)
			slow := !strings.Contains(dbg, sealedUsed) && strings.Contains(dbg, serverOpened)
			if (wantPath == "fast" && !fast) || (wantPath == "server" && !slow) || !strings.Contains(dbg, wantWhy) {
				t.Fatalf("%s: %s took the wrong path (want %s, saying %q):\n%s", what, cmd, wantPath, wantWhy, dbg)
			}
			outs = append(outs, out)
		}
		return strings.Join(outs, "\n")
	}
	// server runs them through the server: the copy set aside.
	server := func(what string) string {
		t.Helper()
		return setAside(t, copyPath, func() string {
			return reads(what+" (copy set aside)", "server", "no sealed projection file")
		})
	}

	fast := reads("untouched store", "fast", sealedUsed)
	if !strings.Contains(fast, "gen-0000019") || !strings.Contains(fast, "SERIAL") || !strings.Contains(fast, "health exit 5:\nSEVERITY") || strings.Count(fast, "\n0005") < 3 {
		t.Fatalf("list and cards from the copy show no ceremonies or cards:\n%.2000s", fast)
	}
	if want := server("untouched store"); fast != want {
		t.Fatalf("from the copy:\n%.2000s\nthrough the server:\n%.2000s", fast, want)
	}
	if again := reads("after reads through the server", "fast", sealedUsed); again != fast {
		t.Fatalf("from the copy after reads through the server:\n%.2000s\nwant:\n%.2000s", again, fast)
	}

	// A damaged copy, and one cut short.
	for _, c := range []struct {
		name, why string
		data      []byte
	}{
		{"damaged copy", "does not match its SHA-256", flipInPart(t, good, kinds.PartMeta)},
		{"cut copy", "cut short", good[:len(good)-10]},
		{"copy with a bad header", "header does not decode", append([]byte("{\"format\":1}\n"), good...)},
	} {
		if err := os.WriteFile(copyPath, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := reads(c.name, "server", c.why); got != fast {
			t.Errorf("%s: through the server:\n%.2000s\nwant:\n%.2000s", c.name, got, fast)
		}
	}
	if err := os.WriteFile(copyPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	reads("copy put back", "fast", sealedUsed)

	// A stream file touched back to its own modification time: its inode
	// change time differs from the seal's.
	touchFirstBlock(t, data)
	if got := reads("touched stream file", "server", "not as store-seal.json describes them"); got != fast {
		t.Errorf("touched stream file: through the server:\n%.2000s\nwant:\n%.2000s", got, fast)
	}

	// An append by another writer whose close writes a new seal and no
	// copy (a writer of an older build, a tool): the copy names the
	// seal before it.
	appendBenchCeremony(t, data, 500)
	after := reads("after another writer's append", "server", "belongs to another seal")
	if !strings.Contains(after, "gen-0000500") {
		t.Fatalf("list after the append does not show it:\n%.2000s", after)
	}

	// A writer's orderly close (account add) copies the checkpoint again.
	var o strings.Builder
	if code := run(context.Background(), []string{"account", "add", "olga", "--role", "operator", "--data-dir", data}, strings.NewReader("a-long-password-for-olga\n"), &o, &o); code != exitOK {
		t.Fatalf("account add: exit %d\n%s", code, o.String())
	}
	got := reads("after a writer's close", "fast", sealedUsed)
	if !strings.Contains(got, "gen-0000500") || !strings.Contains(got, "account-change") {
		t.Fatalf("list from the copy the writer left shows neither append:\n%.2000s", got)
	}
	if want := server("after a writer's close"); got != want {
		t.Errorf("from the copy the writer left:\n%.2000s\nthrough the server:\n%.2000s", got, want)
	}
}

// flipInPart returns the sealed projection file sealed with the last
// byte of its part name flipped (a part every command reads: the
// parts it does not read are not checked).
func flipInPart(t *testing.T, sealed []byte, name string) []byte {
	t.Helper()
	nl := bytes.IndexByte(sealed, '\n')
	var h struct {
		Parts []struct {
			Name string `json:"name"`
			Size int    `json:"size"`
		} `json:"parts"`
	}
	if nl < 0 || json.Unmarshal(sealed[:nl], &h) != nil {
		t.Fatalf("the sealed projection file has no header line")
	}
	at := nl + 1
	for _, p := range h.Parts {
		at += p.Size
		if p.Name == name {
			out := append([]byte{}, sealed...)
			out[at-1] ^= 1
			return out
		}
	}
	t.Fatalf("the sealed projection file has no %s part", name)
	return nil
}

// setAside returns what run returns with the file at path moved away for
// the time of the call (then written back as it was).
func setAside(t *testing.T, path string, run func() string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	out := run()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// touchFirstBlock sets the stream's first block file's modification time
// back to itself: its content is the same, its inode change time is not.
func touchFirstBlock(t *testing.T, data string) {
	t.Helper()
	blocks, _ := filepath.Glob(filepath.Join(data, "jetstream", "jetstream", "*", "streams", jetstream.DefaultStream, "msgs", "*.blk"))
	if len(blocks) == 0 {
		t.Fatal("no stream block to touch")
	}
	info, err := os.Stat(blocks[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(blocks[0], info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// appendBenchCeremony appends bench ceremony n (benchCeremony) as another
// writer would, on a store opened directly: its close writes a new seal
// and no projection copy or locator.
func appendBenchCeremony(t *testing.T, data string, n int) {
	t.Helper()
	withStore(t, data, func(st *jetstream.Store) {
		eng, err := engine.New(engine.Config{Store: st, Registry: kinds.Registry(), Definitions: kinds.Definitions(), Passive: true})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		if err := eng.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := benchCeremony(context.Background(), eng, n); err != nil {
			t.Fatal(err)
		}
	})
}
