package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// demoWithCheckpoint runs the demo with a station audit key and returns
// the data directory, the audit signer and the checkpoint the demo wrote.
func demoWithCheckpoint(t *testing.T) (string, translog.Signer, string) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	ctx := context.Background()
	var out bytes.Buffer
	if code := run(ctx, []string{"audit", "key", "--create"}, strings.NewReader(""), &out, &out); code != exitOK {
		t.Fatalf("audit key --create: exit %d\n%s", code, out.String())
	}
	dir := t.TempDir()
	out.Reset()
	if code := run(ctx, []string{"demo", "--dir", dir}, strings.NewReader(""), &out, &out); code != exitOK {
		t.Fatalf("demo: exit %d\n%s", code, out.String())
	}
	data := filepath.Join(dir, "data")
	files, err := translog.Dir(filepath.Join(data, translog.DirName)).Files()
	if err != nil || len(files) == 0 {
		t.Fatalf("checkpoint files: %v, %v", files, err)
	}
	keyPath, _ := defaultKeyFile()
	signer, _, err := keyfile.LoadOrCreate(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return data, signer, files[len(files)-1]
}

// audit consistency proves offline, from the tree's hashes, that a newer
// checkpoint extends an older one, and exits 6 naming the checkpoint that
// does not: a rewritten older root, a shorter newer one, a bad signature.
func TestAuditConsistency(t *testing.T) {
	data, signer, newest := demoWithCheckpoint(t)
	pub := hex.EncodeToString(signer.Public())
	cur, err := translog.ReadFile(newest, signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	tree, err := translog.LoadHashes(filepath.Join(data, translog.DirName, translog.HashFileName))
	if err != nil {
		t.Fatal(err)
	}
	// A genuine older checkpoint: the tree of the first 9 events.
	older := cur
	older.Size = 9
	if older.Root, err = tree.Root(9); err != nil {
		t.Fatal(err)
	}
	oldFile := signedCheckpoint(t, signer, older)
	consistency := func(args ...string) (int, string) {
		var o bytes.Buffer
		code := run(context.Background(), append([]string{"audit", "consistency"}, args...), strings.NewReader(""), &o, &o)
		return code, o.String()
	}
	if code, o := consistency(oldFile, newest, "--public-key", pub, "--data-dir", data); code != exitOK || !strings.Contains(o, "OK: checkpoint") || !strings.Contains(o, "extends checkpoint") {
		t.Fatalf("a genuine pair: exit %d\n%s", code, o)
	}
	hashCopy := filepath.Join(t.TempDir(), "tree.hashes")
	copyFile(t, filepath.Join(data, translog.DirName, translog.HashFileName), hashCopy)
	if code, o := consistency(oldFile, newest, "--public-key", pub, "--hashes", hashCopy); code != exitOK {
		t.Fatalf("with a copy of the hashes: exit %d\n%s", code, o)
	}
	// The other way round: the newer one is shorter.
	if code, o := consistency(newest, oldFile, "--public-key", pub, "--data-dir", data); code != exitAltered || !strings.Contains(o, "does not extend checkpoint "+newest) || !strings.Contains(o, "it is shorter") {
		t.Fatalf("swapped: exit %d\n%s", code, o)
	}
	// An older checkpoint whose root was rewritten (signed by the key).
	rewritten := older
	rewritten.Root[3] ^= 0x10
	rwFile := signedCheckpoint(t, signer, rewritten)
	if code, o := consistency(rwFile, newest, "--public-key", pub, "--data-dir", data); code != exitAltered || !strings.Contains(o, "does not extend checkpoint "+rwFile) || !strings.Contains(o, "first 9 events were changed") {
		t.Fatalf("rewritten older root: exit %d\n%s", code, o)
	}
	// Same size, another root.
	forked := cur
	forked.Root[0] ^= 1
	if code, o := consistency(newest, signedCheckpoint(t, signer, forked), "--public-key", pub, "--data-dir", data); code != exitAltered || !strings.Contains(o, "history was rewritten") {
		t.Fatalf("forked: exit %d\n%s", code, o)
	}
	// A checkpoint signed by another key.
	other := newTestSigner(t)
	if code, o := consistency(oldFile, newest, "--public-key", hex.EncodeToString(other.Public()), "--data-dir", data); code != exitAltered || !strings.Contains(o, "not signed by this audit key") {
		t.Fatalf("another key: exit %d\n%s", code, o)
	}
	// No hashes given: a usage error saying what to give.
	if code, o := consistency(oldFile, newest, "--public-key", pub); code == exitOK || code == exitAltered || !strings.Contains(o, "--data-dir DIR or --hashes FILE") {
		t.Fatalf("no hashes: exit %d\n%s", code, o)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newTestSigner(t *testing.T) translog.Signer {
	t.Helper()
	s, _, err := keyfile.LoadOrCreate(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
