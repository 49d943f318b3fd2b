package main

import (
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/web"
)

// TestFindingsCriticalFirst: the console lists critical findings first,
// then warnings, then the rest, each group in the order health gave.
func TestFindingsCriticalFirst(t *testing.T) {
	fs := []web.Finding{{Severity: "info", Subject: "a"}, {Severity: "warning", Subject: "b"}, {Severity: "critical", Subject: "c"},
		{Severity: "warning", Subject: "d"}, {Severity: "critical", Subject: "e"}}
	sortFindings(fs)
	got := ""
	for _, f := range fs {
		got += f.Subject
	}
	if got != "cebda" {
		t.Fatalf("findings in the order %s, want cebda (critical, warning, info; stable)", got)
	}
}
