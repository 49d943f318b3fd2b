package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// A writer leaves a signed checkpoint; verify-store checks the store
// against it and against any checkpoint given, naming missing sequences
// and a changed history.
func TestCheckpointsAndVerifyStore(t *testing.T) {
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
	if !strings.Contains(out.String(), "Checkpoint (at shutdown)") {
		t.Fatalf("demo wrote no checkpoint:\n%s", out.String())
	}
	data := filepath.Join(dir, "data")
	files, err := translog.Dir(filepath.Join(data, translog.DirName)).Files()
	if err != nil || len(files) != 1 {
		t.Fatalf("checkpoint files: %v, %v", files, err)
	}
	keyPath, _ := defaultKeyFile()
	signer, _, err := keyfile.LoadOrCreate(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := translog.ReadFile(files[0], signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	verify := func(extra ...string) (int, string) {
		var o bytes.Buffer
		args := []string{"audit", "verify-store", "--data-dir", data}
		for _, f := range extra {
			args = append(args, "--checkpoint", f)
		}
		code := run(ctx, args, strings.NewReader(""), &o, &o)
		return code, o.String()
	}
	if code, o := verify(); code != exitOK || !strings.Contains(o, "extends its tree hashes and checkpoints") {
		t.Fatalf("verify-store: exit %d\n%s", code, o)
	}
	// A checkpoint kept elsewhere that is longer than the store: the
	// store lost its tail, and verify-store names the sequences.
	longer := cp
	longer.Size += 5
	path := signedCheckpoint(t, signer, longer)
	code, o := verify(path)
	if want := "stream sequences " + itoa(cp.Size+1) + "-" + itoa(cp.Size+5) + " are missing"; code != exitAltered || !strings.Contains(o, want) {
		t.Fatalf("verify-store with a longer checkpoint: exit %d, want %d and %q\n%s", code, exitAltered, want, o)
	}
	// A checkpoint of the same size with another root: a changed history.
	changed := cp
	changed.Root[0] ^= 1
	code, o = verify(signedCheckpoint(t, signer, changed))
	if code != exitAltered || !strings.Contains(o, "a record among them was changed") {
		t.Fatalf("verify-store with another root: exit %d\n%s", code, o)
	}
	// The tree's hash file shortened by hand is seen as well.
	hp := filepath.Join(data, translog.DirName, translog.HashFileName)
	b, err := os.ReadFile(hp)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if err := os.WriteFile(hp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, o := verify(); code != exitAltered || !strings.Contains(o, "stream sequence 1 is not the event that was recorded") {
		t.Fatalf("verify-store with a changed leaf hash: exit %d\n%s", code, o)
	}
}

func signedCheckpoint(t *testing.T, s translog.Signer, c translog.Checkpoint) string {
	t.Helper()
	msg, err := translog.Sign(c, s)
	if err != nil {
		t.Fatal(err)
	}
	path, err := translog.Dir(t.TempDir()).Write(c, msg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
