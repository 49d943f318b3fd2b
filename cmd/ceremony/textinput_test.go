package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestNonUTF8InputRefused: operator-given text that is not UTF-8 is
// refused, naming the flag, before anything is recorded. (Stored text
// shown escaped: TestAbortFromTheCommandLine and pinpad TestEscapeStoredText.)
func TestNonUTF8InputRefused(t *testing.T) {
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	_, before := runIn(t, "list", "--data-dir", data)
	for _, bad := range [][]string{
		{"cards", "assign", "FFFE00001001", "--custodian", "Carol", "--operator", "al\xffice"},
		{"cards", "assign", "FFFE00001001", "--custodian", "Ca\xc3rol", "--operator", "alice"},
		{"witness", "nope\xfe", "--name", "W", "--role", "auditor"},
		{"abort", "nope", "--reason", "bad \xff", "--operator", "carol"},
	} {
		code, out := runIn(t, append(bad, "--data-dir", data)...)
		if code != exitUsage || !strings.Contains(out, "is not valid UTF-8") || !strings.Contains(out, "give it again in UTF-8") {
			t.Errorf("%q: exit %d, want %d refusing non-UTF-8:\n%s", bad, code, exitUsage, out)
		}
	}
	if _, after := runIn(t, "list", "--data-dir", data); after != before {
		t.Errorf("refused input was recorded:\n%s", after)
	}
}
