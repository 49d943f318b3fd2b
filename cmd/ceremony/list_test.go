package main

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
)

// TestWriteColumnsIsTabwriter: list's column writer prints what
// text/tabwriter printed (padding 2, spaces), wide and multi-byte cells,
// an empty cell and a header alone included.
func TestWriteColumnsIsTabwriter(t *testing.T) {
	for _, rows := range [][][]string{
		{{"ID", "KIND", "PHASE", "EVENTS", "WAITING FOR"}},
		{
			{"ID", "KIND", "PHASE", "EVENTS", "WAITING FOR"},
			{"gen-1", "backup-key-generate", "completed", "20", "-"},
			{"ld-ü-é", "", "reading_paused", "1099511627776", "insert card (deadline 2026-12-02T08:00:00Z)"},
			{"x", "k", "p", "3", ""},
		},
	} {
		var want bytes.Buffer
		tw := tabwriter.NewWriter(&want, 0, 2, 2, ' ', 0)
		for _, r := range rows {
			tw.Write([]byte(strings.Join(r, "\t") + "\n"))
		}
		tw.Flush()
		var got bytes.Buffer
		if err := writeColumns(&got, rows); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("writeColumns:\n%q\ntabwriter:\n%q", got.String(), want.String())
		}
	}
}
