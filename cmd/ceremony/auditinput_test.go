package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
)

// TestAuditBadInput: 'audit export' writes only into a new or empty
// directory and refuses a filter that cannot select anything it names
// (exit 2, nothing written); 'audit verify' fails an export with files
// that are not its own (exit 6, named), and refuses a FIFO or a symlink
// to /dev/zero in place of a file at once, with the message, in a real
// process; a card image that is a FIFO is refused the same way (issue 13,
// "Bad input").
func TestAuditBadInput(t *testing.T) {
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: %d\n%s", code, out)
	}
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "audit.key")
	exp := filepath.Join(dir, "exp")
	if code, out := runIn(t, "audit", "export", "--out", exp, "--data-dir", data, "--key-file", key, "--create"); code != exitOK {
		t.Fatalf("export: %d\n%s", code, out)
	}
	_, keyOut := runIn(t, "audit", "key", "--key-file", key)
	pub := strings.Fields(strings.Split(keyOut, "\n")[0])[2]

	fresh := filepath.Join(dir, "never-written")
	for _, c := range []struct {
		name string
		args []string
		say  string
	}{
		{"--out /", []string{"--out", "/"}, "--out: export: / is not empty"},
		{"--out over an export", []string{"--out", exp}, "is not empty"},
		{"--out a file", []string{"--out", filepath.Join(exp, export.ManifestFile)}, "give a new or empty directory"},
		{"an unknown ceremony", []string{"--out", fresh, "--ceremony", "nope"}, `--ceremony "nope": no such ceremony`},
		{"an unknown kind", []string{"--out", fresh, "--kind", "nope"}, `--kind "nope": no such kind; the kinds are backup-key-generate`},
		{"--from after --to", []string{"--out", fresh, "--from", "2026-12-01T00:00:00Z", "--to", "2026-11-01T00:00:00Z"}, "is not before --to"},
	} {
		code, out := runIn(t, append([]string{"audit", "export", "--data-dir", data, "--key-file", key}, c.args...)...)
		if code != exitUsage || !strings.Contains(out, c.say) {
			t.Errorf("export with %s: exit %d, want %d with %q:\n%s", c.name, code, exitUsage, c.say, out)
		}
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("a refused export created its directory")
	}
	if code, out := runIn(t, "audit", "verify", exp, "--public-key", pub); code != exitOK {
		t.Fatalf("the export after the refusals: %d\n%s", code, out)
	}

	// copyExport copies the export's files into a new directory.
	copyExport := func(name string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{export.JSONLFile, export.CSVFile, export.ManifestFile, export.CheckpointFile, export.ProofsFile} {
			b, err := os.ReadFile(filepath.Join(exp, f))
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	extra := copyExport("extra")
	os.WriteFile(filepath.Join(extra, "notes.txt"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(extra, "more"), 0o755)
	if code, out := runIn(t, "audit", "verify", extra, "--public-key", pub); code != exitAltered || !strings.Contains(out, "unexpected files in the export: more, notes.txt") {
		t.Errorf("verify with extra files: exit %d, want %d naming them:\n%s", code, exitAltered, out)
	}

	// A FIFO and a symlink to /dev/zero in place of events.jsonl: refused
	// at once, in a real process (before, it hung or grew to gigabytes).
	fifo := copyExport("fifo")
	os.Remove(filepath.Join(fifo, export.JSONLFile))
	if err := syscall.Mkfifo(filepath.Join(fifo, export.JSONLFile), 0o600); err != nil {
		t.Fatal(err)
	}
	zero := copyExport("zero")
	os.Remove(filepath.Join(zero, export.JSONLFile))
	if err := os.Symlink("/dev/zero", filepath.Join(zero, export.JSONLFile)); err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, outputs: &bytes.Buffer{}}
	for _, c := range []struct{ dir, say string }{
		{fifo, "events.jsonl is a FIFO, not a regular file"},
		{zero, "events.jsonl is a symlink to a device, not a regular file"},
	} {
		p := s.startBare("audit", "verify", c.dir, "--public-key", pub)
		if code := p.exit(t); code != exitAltered || !strings.Contains(p.output(), c.say) {
			t.Errorf("verify %s: exit %d, want %d with %q:\n%s", c.dir, code, exitAltered, c.say, p.output())
		}
	}

	// A card image that is a FIFO.
	img := filepath.Join(dir, "card.img")
	if err := syscall.Mkfifo(img, 0o600); err != nil {
		t.Fatal(err)
	}
	p := s.startBare("card-emulator", "--vpcd", "127.0.0.1:1", "--card", img)
	if code := p.exit(t); code != exitError || !strings.Contains(p.output(), "not a regular file") {
		t.Errorf("card-emulator with a FIFO card image: exit %d\n%s", code, p.output())
	}
}

// TestAuditExportRefusesAnUnreplayableHistory: the export reads the store
// once, and in that pass refuses a history its ceremony's state machine
// cannot replay (a well-sealed event no phase accepts), as the replay it
// replaced did (issue 15: one pass).
func TestAuditExportRefusesAnUnreplayableHistory(t *testing.T) {
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: %d\n%s", code, out)
	}
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "audit.key")
	st, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: data, Sync: jetstream.SyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	_, v, raw, err := kinds.Registry().Marshal(&events.CardPresented{Reader: "r", ReaderClass: "host-pinpad", Serial: "FFFE00009999", Slot: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := events.Envelope{ID: engine.RandomID(), CeremonyID: "gen-broken", Kind: "backup-key-generate", Type: "card.presented", Version: v,
		Position: 1, Time: time.Now().UTC(), Source: events.SourceReader, Payload: raw}
	events.Seal(&e, "")
	b, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(context.Background(), e.CeremonyID, e.ID, 0, b); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out := runIn(t, "audit", "export", "--out", filepath.Join(dir, "exp"), "--data-dir", data, "--key-file", key, "--create")
	if code != exitError || !strings.Contains(out, "ceremony gen-broken position 1: stored history does not replay") || !strings.Contains(out, "nothing was exported") {
		t.Fatalf("export of a history that does not replay: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "exp")); !os.IsNotExist(err) {
		t.Fatalf("a refused export left its directory: %v", err)
	}
}
