package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/pgpwords"
	"github.com/ceremony-hsm/ceremony/events/export"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// An export of one ceremony carries the station's checkpoint and an
// inclusion proof of each of its events; audit verify proves it part of
// the checkpointed log offline, and exits 6 naming a tampered proof or
// checkpoint. The ceremony report lists the checkpoint, root as PGP words.
func TestExportCheckpointOneCeremony(t *testing.T) {
	data, signer, _ := demoWithCheckpoint(t)
	// A second ceremony after the demo's: the export of the first is a
	// subset of the log.
	var o bytes.Buffer
	if code := run(context.Background(), []string{"account", "add", "olga", "--role", "operator", "--data-dir", data}, strings.NewReader("a-long-password-for-olga\n"), &o, &o); code != exitOK {
		t.Fatalf("account add: exit %d\n%s", code, o.String())
	}
	pub := hex.EncodeToString(signer.Public())
	_, list := runIn(t, "list", "--data-dir", data)
	gen := ""
	for _, l := range strings.Split(list, "\n") {
		if strings.HasPrefix(l, "gen-") {
			gen = strings.Fields(l)[0]
		}
	}
	if gen == "" {
		t.Fatalf("list:\n%s", list)
	}
	// account add writes a checkpoint at its close (issue 12, item 2): the
	// newest stored one covers the whole log, and the export carries it.
	exp := filepath.Join(t.TempDir(), "exp")
	code, out := runIn(t, "audit", "export", "--out", exp, "--data-dir", data, "--ceremony", gen)
	if code != exitOK || !strings.Contains(out, "Checkpoint (the newest in ") {
		t.Fatalf("export: %d\n%s", code, out)
	}
	cp, err := translog.ReadFile(filepath.Join(exp, export.CheckpointFile), signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, cp.RootHex()) || !strings.Contains(out, pgpwords.Encode(cp.Root[:])) {
		t.Fatalf("the export does not name its checkpoint's root in hex and words:\n%s", out)
	}
	var m export.Manifest
	mb, _ := os.ReadFile(filepath.Join(exp, export.ManifestFile))
	if err := json.Unmarshal(mb, &m); err != nil || m.Checkpoint == nil || m.Checkpoint.Size != cp.Size || m.Checkpoint.RootHash != cp.RootHex() {
		t.Fatalf("manifest checkpoint: %+v, %v", m.Checkpoint, err)
	}
	if m.Events == 0 || int64(m.Events) >= cp.Size || len(m.Ceremonies) != 1 {
		t.Fatalf("a one-ceremony export holds %d events of %d ceremonies (log of %d)", m.Events, len(m.Ceremonies), cp.Size)
	}
	verify := func(d string) (int, string) { return runIn(t, "audit", "verify", d, "--public-key", pub) }
	if code, out := verify(exp); code != exitOK || !strings.Contains(out, "every event is included in the signed checkpoint") {
		t.Fatalf("the untouched export: %d\n%s", code, out)
	}

	copyExp := func(name string) string {
		d := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{export.JSONLFile, export.CSVFile, export.ManifestFile, export.CheckpointFile, export.ProofsFile} {
			copyFile(t, filepath.Join(exp, f), filepath.Join(d, f))
		}
		return d
	}
	proofLines := func(d string) []string {
		b, _ := os.ReadFile(filepath.Join(d, export.ProofsFile))
		return strings.SplitAfter(string(b), "\n")
	}
	cases := []struct {
		name   string
		mutate func(d string)
		say    string
	}{
		{"a changed proof hash", func(d string) {
			ls := proofLines(d)
			var p struct {
				Seq   uint64   `json:"seq"`
				Proof [][]byte `json:"proof"`
			}
			if err := json.Unmarshal([]byte(ls[2]), &p); err != nil || len(p.Proof) == 0 {
				t.Fatalf("proof line 3: %q %v", ls[2], err)
			}
			p.Proof[0][5] ^= 1
			b, _ := json.Marshal(p)
			ls[2] = string(b) + "\n"
			os.WriteFile(filepath.Join(d, export.ProofsFile), []byte(strings.Join(ls, "")), 0o644)
		}, export.ProofsFile + " line 3: the event of events.jsonl line 3 is not stream sequence"},
		{"a proof for another sequence", func(d string) {
			ls := proofLines(d)
			ls[1], ls[2] = ls[2], ls[1]
			os.WriteFile(filepath.Join(d, export.ProofsFile), []byte(strings.Join(ls, "")), 0o644)
		}, export.ProofsFile + " line 2: the event of events.jsonl line 2 is not stream sequence 3"},
		{"a missing proof", func(d string) {
			ls := proofLines(d)
			os.WriteFile(filepath.Join(d, export.ProofsFile), []byte(strings.Join(ls[:len(ls)-2], "")), 0o644)
		}, "no inclusion proof for the event of events.jsonl line"},
		{"a checkpoint with another size", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, export.CheckpointFile))
			b = []byte(strings.Replace(string(b), "\n"+itoa(cp.Size)+"\n", "\n"+itoa(cp.Size+1)+"\n", 1))
			os.WriteFile(filepath.Join(d, export.CheckpointFile), b, 0o644)
		}, export.CheckpointFile + ": translog: checkpoint of"},
		{"a checkpoint re-signed with another root", func(d string) {
			other := cp
			other.Root[0] ^= 1
			msg, err := translog.Sign(other, signer)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(d, export.CheckpointFile), msg, 0o644)
		}, export.CheckpointFile + ": " + itoa(cp.Size) + " events, root " + hex.EncodeToString(func() []byte { r := cp.Root; r[0] ^= 1; return r[:] }())},
		{"a deleted checkpoint", func(d string) {
			os.Remove(filepath.Join(d, export.CheckpointFile))
		}, "read " + export.CheckpointFile},
	}
	for _, c := range cases {
		d := copyExp(strings.ReplaceAll(c.name, " ", "-"))
		c.mutate(d)
		code, out := verify(d)
		if code != exitAltered || !strings.Contains(out, c.say) {
			t.Errorf("%s: exit %d, want %d and %q\n%s", c.name, code, exitAltered, c.say, out)
		}
	}

	// The report lists the checkpoint: size, root in hex and as PGP words.
	html := filepath.Join(t.TempDir(), "r.html")
	if code, out := runIn(t, "audit", "report", gen, "--data-dir", data, "--out", html); code != exitOK {
		t.Fatalf("report: %d\n%s", code, out)
	}
	b, _ := os.ReadFile(html)
	for _, want := range []string{"Checkpoint of the event log", itoa(cp.Size) + " events", cp.RootHex(), pgpwords.Encode(cp.Root[:])} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
