package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// backups lists the complete automatic backups in dir, oldest first, and
// fails on a partial one left behind.
func backups(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), partialPrefix) {
			t.Fatalf("a partial backup is left in %s: %s", dir, e.Name())
		}
		if backupName.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// pinChange runs a PIN change of an emulated card's backup slot and
// returns its output; it must complete.
func pinChange(t *testing.T, s *site, cardsDir, card, oldPIN, newPIN string, extra ...string) string {
	t.Helper()
	p := s.start(append([]string{"pin", "change", "--slot", "backup", "--operator", "alice", "--cards-dir", cardsDir}, extra...)...)
	p.send(card, "", oldPIN, newPIN, newPIN)
	if code := p.exit(t); code != exitOK {
		t.Fatalf("pin change of %s: exit %d\n%s", card, code, p.output())
	}
	return p.output()
}

// TestAutomaticBackupAfterEveryCompletedCeremony (issue 12, item 6): with
// --backup-dir the demo and every start command back the store up after
// the ceremony completes, into a new directory each, keeping the last
// --backup-keep; the newest restores into an empty data directory and
// checks against its checkpoint.
func TestAutomaticBackupAfterEveryCompletedCeremony(t *testing.T) {
	noKeyFile(t)
	s := newSite(t)
	if code, out := runBare(t, s, "audit", "key", "--create"); code != exitOK {
		t.Fatalf("audit key --create: exit %d\n%s", code, out)
	}
	dir, bdir := t.TempDir(), filepath.Join(t.TempDir(), "backups")
	s.dataDir = filepath.Join(dir, "data")
	cards := filepath.Join(dir, "cards")
	code, out := runBare(t, s, "demo", "--dir", dir, "--backup-dir", bdir, "--backup-keep", "2")
	if code != exitOK || !strings.Contains(out, "Automatic backup: ") {
		t.Fatalf("demo --backup-dir: exit %d\n%s", code, out)
	}
	first := backups(t, bdir)
	if len(first) != 1 {
		t.Fatalf("after the demo: backups %v, want 1", first)
	}
	pinChange(t, s, cards, "card1", demoPINs[0], "24681357", "--backup-dir", bdir, "--backup-keep", "2")
	out = pinChange(t, s, cards, "card2", demoPINs[1], "13572468", "--backup-dir", bdir, "--backup-keep", "2")
	if !strings.Contains(out, "Automatic backup: ") {
		t.Fatalf("pin change --backup-dir made no backup:\n%s", out)
	}
	kept := backups(t, bdir)
	if len(kept) != 2 || kept[0] == first[0] || kept[1] == first[0] {
		t.Fatalf("after three backups with --backup-keep 2: %v (the first was %s)", kept, first[0])
	}
	restored := filepath.Join(t.TempDir(), "restored")
	code, out = runBare(t, s, "store", "restore", filepath.Join(bdir, kept[1]), "--data-dir", restored)
	if code != exitOK || !strings.Contains(out, "restored ") {
		t.Fatalf("restore the newest automatic backup: exit %d\n%s", code, out)
	}
	if code, out := runBare(t, s, "list", "--data-dir", restored); code != exitOK || strings.Count(out, " completed ") != 3 || !strings.Contains(out, "gen-") {
		t.Fatalf("the restored store: exit %d\n%s", code, out)
	}
	if code, out := s.runCLI(t, "health"); code != exitOK || strings.Contains(out, "automatic backup") {
		t.Fatalf("health after good backups: exit %d\n%s", code, out)
	}
	// Usage: --backup-keep needs --backup-dir, and at least 1.
	for _, c := range []struct{ args, say string }{
		{"--backup-keep 3", "--backup-keep needs --backup-dir"},
		{"--backup-dir " + bdir + " --backup-keep 0", "keep at least 1 backup"},
	} {
		args := append([]string{"pin", "change", "--operator", "a", "--cards-dir", cards}, strings.Fields(c.args)...)
		if code, out := s.runCLI(t, args...); code != exitUsage || !strings.Contains(out, c.say) {
			t.Errorf("%s: exit %d\n%s", c.args, code, out)
		}
	}
}

// readOnlyDir returns a directory nothing can be written into: a
// read-only tmpfs when the tests run as root (mode bits do not stop
// root), else a directory of mode 0500.
func readOnlyDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return dir
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_RDONLY, "size=1m"); err != nil {
		t.Fatalf("mount a read-only tmpfs on %s (the test needs it to make a directory root cannot write): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestAutomaticBackupIntoAReadOnlyDir: a backup that fails (the backup
// directory is read-only) is a warning, the ceremony completes (exit 0),
// and 'ceremony health' lists "last automatic backup failed" until a
// later backup succeeds.
func TestAutomaticBackupIntoAReadOnlyDir(t *testing.T) {
	noKeyFile(t)
	s := newSite(t)
	if code, out := runBare(t, s, "audit", "key", "--create"); code != exitOK {
		t.Fatalf("audit key --create: exit %d\n%s", code, out)
	}
	ro := readOnlyDir(t)
	bdir := filepath.Join(ro, "backups")
	out := pinChange(t, s, s.cardsDir, "card1", testPINs["card1"], "24681357", "--backup-dir", bdir)
	if !strings.Contains(out, "WARNING: the automatic backup into "+bdir+" failed") || !strings.Contains(out, "the ceremony is not affected") {
		t.Fatalf("a backup into a read-only directory:\n%s", out)
	}
	code, out := s.runCLI(t, "health")
	if code != exitOK || !strings.Contains(out, "last automatic backup failed: create the backup directory") || !strings.Contains(out, bdir) {
		t.Fatalf("health after a failed backup: exit %d\n%s", code, out)
	}
	good := filepath.Join(t.TempDir(), "backups")
	pinChange(t, s, s.cardsDir, "card2", testPINs["card2"], "13572468", "--backup-dir", good)
	if len(backups(t, good)) != 1 {
		t.Fatalf("no backup in %s", good)
	}
	if code, out := s.runCLI(t, "health"); code != exitOK || strings.Contains(out, "automatic backup") {
		t.Fatalf("health after a good backup: exit %d\n%s", code, out)
	}
}
