package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditSigningKeyFile: the signing key defaults to the user's config
// directory, never the working directory; a key file that does not exist
// (the default one too) is made only with --create, which says so.
func TestAuditSigningKeyFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	def := filepath.Join(home, "config", "ceremony", "audit-signing.key")

	code, out := runIn(t, "audit", "key")
	if code != exitUsage || !strings.Contains(out, def+" does not exist: give --create to make a new key") {
		t.Fatalf("audit key without a key: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Dir(def)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the default key's directory was made without --create: %v", err)
	}
	code, out = runIn(t, "audit", "key", "--create")
	if code != exitOK || !strings.Contains(out, "created the signing key "+def) {
		t.Fatalf("audit key --create: exit %d\n%s", code, out)
	}
	for p, mode := range map[string]os.FileMode{filepath.Dir(def): 0o700, def: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Fatalf("%s has mode %v, want %v", p, fi.Mode().Perm(), mode)
		}
	}
	pub := strings.SplitN(out, "public key:", 2)[1]
	code, again := runIn(t, "audit", "key")
	if code != exitOK || strings.Contains(again, "created") || !strings.Contains(again, pub) {
		t.Fatalf("audit key with the key made: exit %d\n%s\nwant the same key:\n%s", code, again, out)
	}

	// export signs with the default key; a --key-file that does not exist
	// is refused before anything is written.
	data := filepath.Join(t.TempDir(), "data")
	exp := filepath.Join(t.TempDir(), "exp")
	fp := strings.Fields(strings.SplitN(out, "fingerprint:", 2)[1])[0]
	if code, out := runIn(t, "audit", "export", "--out", exp, "--data-dir", data); code != exitOK || !strings.Contains(out, "signed by "+fp) {
		t.Fatalf("export with the default key: exit %d\n%s", code, out)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	exp2 := filepath.Join(t.TempDir(), "exp2")
	code, out = runIn(t, "audit", "export", "--out", exp2, "--data-dir", data, "--key-file", other)
	if code != exitUsage || !strings.Contains(out, other+" does not exist: give --create to make a new key") {
		t.Fatalf("export with a missing --key-file: exit %d\n%s", code, out)
	}
	for _, p := range []string{other, exp2} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s was made by a refused export: %v", p, err)
		}
	}
	if code, out := runIn(t, "audit", "key", "--key-file", other, "--create"); code != exitOK || !strings.Contains(out, "created the signing key "+other) {
		t.Fatalf("audit key --key-file --create: exit %d\n%s", code, out)
	}

	// Without XDG_CONFIG_HOME the default is under $HOME/.config.
	t.Setenv("XDG_CONFIG_HOME", "")
	if code, out := runIn(t, "audit", "key", "--create"); code != exitOK || !strings.Contains(out, "created the signing key "+filepath.Join(home, ".config", "ceremony", "audit-signing.key")) {
		t.Fatalf("audit key --create without XDG_CONFIG_HOME: exit %d\n%s", code, out)
	}
	if _, err := os.Stat("audit-signing.key"); err == nil {
		t.Fatal("a key file was made in the working directory")
	}
}
