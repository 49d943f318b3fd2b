package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCardsAssign: a card is assigned and labelled by event, reassigned,
// and 'cards' shows the latest custodian and label; bad input is refused
// with what to do, and nothing is recorded for it.
func TestCardsAssign(t *testing.T) {
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	code, out := runIn(t, "cards", "assign", "FFFE00001001", "--custodian", "Carol Custodian", "--label", "KS-2025 #1", "--operator", "alice", "--data-dir", data)
	if code != exitOK || !strings.Contains(out, `Card FFFE00001001: custodian Carol Custodian, label "KS-2025 #1".`) {
		t.Fatalf("assign: %d\n%s", code, out)
	}
	code, out = runIn(t, "cards", "assign", "FFFE00001001", "--custodian", "Dave Deputy", "--operator", "alice", "--data-dir", data)
	if code != exitOK || !strings.Contains(out, "custodian Dave Deputy (was Carol Custodian)") {
		t.Fatalf("reassign: %d\n%s", code, out)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"FFFE0000DEAD", "--custodian", "X", "--operator", "alice"}, "card FFFE0000DEAD is not in the registry"},
		{[]string{"FFFE00001002", "--operator", "alice"}, "give --custodian, --label or both"},
		{[]string{"FFFE00001002", "--custodian", "X"}, "--operator is required"},
		{[]string{"FFFE00001002", "--label", "a\x07b", "--operator", "alice"}, "use at most 64 printable characters"},
	} {
		code, out := runIn(t, append(append([]string{"cards", "assign"}, bad.args...), "--data-dir", data)...)
		if code != exitUsage || !strings.Contains(out, bad.want) {
			t.Errorf("cards assign %q: exit %d, want %d and %q:\n%s", bad.args, code, exitUsage, bad.want, out)
		}
	}
	_, out = runIn(t, "cards", "--data-dir", data)
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FFFE00001001") {
			row = l
		}
		if strings.HasPrefix(l, "FFFE00001002") && strings.Contains(l, "X") {
			t.Errorf("a refused assignment reached the registry: %s", l)
		}
	}
	if !strings.Contains(row, "KS-2025 #1") || !strings.Contains(row, "Dave Deputy") || strings.Contains(row, "Carol") {
		t.Errorf("cards row of FFFE00001001: %q\n%s", row, out)
	}
	_, out = runIn(t, "list", "--data-dir", data)
	if strings.Count(out, "card-assign") != 2 {
		t.Errorf("want two card-assign ceremonies in the list:\n%s", out)
	}
}
