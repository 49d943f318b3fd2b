package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/events/translog"
)

// store backup writes the stream's events in order and their checkpoint,
// changing no file of the store; store restore into an empty data
// directory gives the same history (same checkpoint root, verify-store
// OK, the same ceremonies), and refuses a changed backup, writing nothing.
func TestStoreBackupRestoreRoundTrip(t *testing.T) {
	data, signer, newest := demoWithCheckpoint(t)
	cp, err := translog.ReadFile(newest, signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup")
	before := storeDigest(t, data)
	if code, out := runIn(t, "store", "backup", backup, "--data-dir", data); code != exitOK || !strings.Contains(out, "backed up "+itoa(cp.Size)+" events") || !strings.Contains(out, cp.RootHex()) {
		t.Fatalf("backup: %d\n%s", code, out)
	}
	if d := diffDigests(before, storeDigest(t, data)); len(d) > 0 {
		t.Fatalf("backup changed the store: %v", d)
	}
	if code, out := runIn(t, "store", "backup", backup, "--data-dir", data); code == exitOK || !strings.Contains(out, "not empty") {
		t.Fatalf("a backup over a backup: %d\n%s", code, out)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	code, out := runIn(t, "store", "restore", backup, "--data-dir", restored)
	if code != exitOK || !strings.Contains(out, "restored "+itoa(cp.Size)+" events") {
		t.Fatalf("restore: %d\n%s", code, out)
	}
	if code, out := runIn(t, "audit", "verify-store", "--data-dir", restored, "--checkpoint", newest); code != exitOK || !strings.Contains(out, "root "+cp.RootHex()) {
		t.Fatalf("verify-store of the restored store against the original checkpoint: %d\n%s", code, out)
	}
	if files, err := translog.Dir(filepath.Join(restored, translog.DirName)).Files(); err != nil || len(files) != 1 {
		t.Fatalf("the restored data directory's checkpoints: %v, %v", files, err)
	} else if c, err := translog.ReadFile(files[0], signer.Public()); err != nil || c != cp {
		t.Fatalf("the restored checkpoint: %+v, %v; want %+v", c, err, cp)
	}
	_, l1 := runIn(t, "list", "--data-dir", data)
	_, l2 := runIn(t, "list", "--data-dir", restored)
	if l1 != l2 {
		t.Fatalf("list differs:\n%s\n---\n%s", l1, l2)
	}
	if code, out := runIn(t, "store", "restore", backup, "--data-dir", restored); code == exitOK || !strings.Contains(out, "not empty") {
		t.Fatalf("a restore over a store: %d\n%s", code, out)
	}

	// A changed event in the backup: refused before anything is written.
	b, err := os.ReadFile(filepath.Join(backup, backupEvents))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.MkdirAll(bad, 0o700)
	changed := []byte(strings.Replace(string(b), `"position":3`, `"position":4`, 1))
	if string(changed) == string(b) {
		t.Fatal("the mutation changed nothing")
	}
	os.WriteFile(filepath.Join(bad, backupEvents), changed, 0o600)
	copyFile(t, filepath.Join(backup, backupCheckpoint), filepath.Join(bad, backupCheckpoint))
	target := filepath.Join(t.TempDir(), "target")
	if code, out := runIn(t, "store", "restore", bad, "--data-dir", target); code != exitAltered || !strings.Contains(out, "hash to root") || !strings.Contains(out, "nothing was restored") {
		t.Fatalf("a changed backup: %d\n%s", code, out)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left %s: %v", target, err)
	}
	// A truncated backup (the last event gone).
	os.WriteFile(filepath.Join(bad, backupEvents), b[:strings.LastIndex(strings.TrimSuffix(string(b), "\n"), "\n")+1], 0o600)
	if code, out := runIn(t, "store", "restore", bad, "--data-dir", target); code != exitAltered || !strings.Contains(out, "events "+itoa(cp.Size)+"-"+itoa(cp.Size)+" are missing") {
		t.Fatalf("a truncated backup: %d\n%s", code, out)
	}
}

// store restore checks the backup's checkpoint (signed by the station's
// audit key, of the station's log) before it creates anything: a backup
// of another log or signed by another key exits 6 and the data directory
// is not made. The events file is read as a stream: a last line without
// its newline is a truncated backup.
func TestStoreRestoreChecksOriginFirst(t *testing.T) {
	data, signer, newest := demoWithCheckpoint(t)
	cp, err := translog.ReadFile(newest, signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup")
	if code, out := runIn(t, "store", "backup", backup, "--data-dir", data); code != exitOK {
		t.Fatalf("backup: %d\n%s", code, out)
	}
	withCheckpoint := func(s translog.Signer, c translog.Checkpoint) string {
		dir := filepath.Join(t.TempDir(), "b")
		os.MkdirAll(dir, 0o700)
		copyFile(t, filepath.Join(backup, backupEvents), filepath.Join(dir, backupEvents))
		msg, err := translog.Sign(c, s)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, backupCheckpoint), msg, 0o600)
		return dir
	}
	other := cp
	other.Origin = translog.Origin("OTHER", signer.Public())
	cases := []struct {
		name, dir, say string
	}{
		{"another log", withCheckpoint(signer, other), "not of this station's log"},
		{"another key", withCheckpoint(newTestSigner(t), cp), "nothing was restored"},
	}
	for _, c := range cases {
		target := filepath.Join(t.TempDir(), "target")
		code, out := runIn(t, "store", "restore", c.dir, "--data-dir", target)
		if code != exitAltered || !strings.Contains(out, c.say) {
			t.Errorf("%s: exit %d, want %d and %q\n%s", c.name, code, exitAltered, c.say, out)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("%s: a refused restore made %s: %v", c.name, target, err)
		}
	}
	// The events file without its last newline.
	b, _ := os.ReadFile(filepath.Join(backup, backupEvents))
	cut := withCheckpoint(signer, cp)
	os.WriteFile(filepath.Join(cut, backupEvents), b[:len(b)-1], 0o600)
	target := filepath.Join(t.TempDir(), "target")
	if code, out := runIn(t, "store", "restore", cut, "--data-dir", target); code != exitAltered || !strings.Contains(out, "has no end: the file was truncated") {
		t.Errorf("a cut events file: exit %d\n%s", code, out)
	}
}
