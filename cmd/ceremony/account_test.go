package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccountCommands: the password comes from standard input (never a
// flag), short ones are refused, each change is an event, and the store
// and its events hold no password.
func TestAccountCommands(t *testing.T) {
	s := newSite(t)
	const pw = "a-long-password-for-olga"
	add := s.start("account", "add", "olga", "--role", "operator")
	add.send(pw)
	if code := add.exit(t); code != exitOK || !strings.Contains(add.output(), "Account olga: created") {
		t.Fatalf("account add from stdin: exit %d\n%s", code, add.output())
	}
	short := s.start("account", "add", "ann", "--role", "witness")
	short.send("short")
	if code := short.exit(t); code != exitUsage || !strings.Contains(short.output(), "give at least 10") {
		t.Fatalf("a short password: exit %d\n%s", code, short.output())
	}
	if code, out := s.runCLI(t, "account", "add", "bob", "--role", "operator", "--password", pw); code != exitUsage || !strings.Contains(out, "unknown flag: --password") {
		t.Fatalf("a password as a flag value: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"account", "disable", "olga"}, exitOK, "disabled (role operator, active false)"},
		{[]string{"account", "disable", "olga"}, exitUsage, "disabled already"},
		{[]string{"account", "role", "olga", "auditor"}, exitOK, "role_changed (role auditor"},
		{[]string{"account", "enable", "nobody"}, exitUsage, "no account"},
		{[]string{"account", "list"}, exitOK, "olga  auditor  disabled"},
	} {
		if code, out := s.runCLI(t, c.args...); code != c.code || !strings.Contains(out, c.say) {
			t.Fatalf("%v: exit %d, want %d saying %q\n%s", c.args, code, c.code, c.say, out)
		}
	}
	file := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(file, []byte("another-long-password\n"), 0o600)
	if code, out := s.runCLI(t, "account", "passwd", "olga", "--password-file", file); code != exitOK || !strings.Contains(out, "password_changed") {
		t.Fatalf("passwd: exit %d\n%s", code, out)
	}
	scan(t, map[string][]byte{"password": []byte(pw), "new password": []byte("another-long-password")}, s.dataDir, map[string][]byte{"outputs": s.outputs.Bytes()})
}
