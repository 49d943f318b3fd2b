package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestHelp: -h and --help exit 0 and show the positional arguments; the
// root help holds the exit codes.
func TestHelp(t *testing.T) {
	cases := []struct {
		args []string
		say  []string
	}{
		{[]string{"show", "-h"}, []string{"ceremony show ID [flags]", "--data-dir"}},
		{[]string{"hsm", "restore", "--help"}, []string{"ceremony hsm restore FILE [flags]", "--pkcs11-token"}},
		{[]string{"audit", "verify", "-h"}, []string{"ceremony audit verify DIR [flags]", "--public-key"}},
		{[]string{"hsm", "--help"}, []string{"backup", "restore"}},
		{[]string{"--help"}, []string{"Exit codes", "5  'ceremony health': a critical finding is open", "rehearse"}},
		{[]string{"help", "witness"}, []string{"ceremony witness ID [flags]"}},
	}
	for _, tc := range cases {
		code, out := runIn(t, tc.args...)
		if code != exitOK {
			t.Errorf("ceremony %v: exit %d, want 0\n%s", tc.args, code, out)
		}
		for _, want := range tc.say {
			if !strings.Contains(out, want) {
				t.Errorf("ceremony %v does not say %q:\n%s", tc.args, want, out)
			}
		}
	}
}

// TestCommandLineErrors: unknown commands and flags, missing arguments
// and flags a command does not take exit 2, naming what is wrong.
func TestCommandLineErrors(t *testing.T) {
	cases := []struct {
		args []string
		say  string
	}{
		{nil, "give a command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "ceremony"`},
		{[]string{"hsm"}, "give a command: backup, restore"},
		{[]string{"hsm", "frob"}, `unknown command "frob" for "ceremony hsm"`},
		{[]string{"audit", "verfy"}, "did you mean verify"},
		{[]string{"list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"show"}, "give one ceremony id"},
		{[]string{"show", "a", "b"}, `not 2 arguments ["a" "b"]`},
		{[]string{"list", "extra"}, `takes no arguments, got ["extra"]`},
		{[]string{"hsm", "restore"}, "give the backup file"},
		{[]string{"audit", "verify"}, "give the export directory"},
		{[]string{"emulated-cards", "--data-dir", "x"}, "unknown flag: --data-dir"},
		{[]string{"audit", "key", "--sync", "relaxed"}, "unknown flag: --sync"},
		{[]string{"copy", "--hsm", "pkcs11"}, "unknown flag: --hsm"},
		{[]string{"resume", "gen-1"}, "--operator is required: the events record who resumed the ceremony"},
		{[]string{"completion", "tcsh"}, `unknown command "tcsh"`},
	}
	for _, tc := range cases {
		code, out := runIn(t, tc.args...)
		if code != exitUsage || !strings.Contains(out, tc.say) {
			t.Errorf("ceremony %v: exit %d, want %d saying %q:\n%s", tc.args, code, exitUsage, tc.say, out)
		}
	}
}

// TestDemoDataDir: 'demo --data-dir D' leaves D holding the store, which
// the other commands then read; the demo never writes into a store that
// holds something.
func TestDemoDataDir(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // the demo's cards go into a new temporary directory
	data := filepath.Join(t.TempDir(), "data")
	code, out := runIn(t, "demo", "--data-dir", data)
	if code != exitOK || !strings.Contains(out, "event store: "+data) {
		t.Fatalf("demo --data-dir: exit %d\n%s", code, out)
	}
	code, out = runIn(t, "list", "--data-dir", data)
	if code != exitOK || !strings.Contains(out, "gen-") || !strings.Contains(out, "completed") {
		t.Fatalf("list of the demo's store: exit %d\n%s", code, out)
	}
	if code, out := runIn(t, "demo", "--data-dir", data); code != exitUsage || !strings.Contains(out, "--data-dir "+data+" is not empty") {
		t.Fatalf("a second demo into the same store: exit %d\n%s", code, out)
	}
	if code, out := runIn(t, "demo", "--dir", t.TempDir(), "--data-dir", filepath.Join(t.TempDir(), "d")); code != exitUsage || !strings.Contains(out, "not both") {
		t.Fatalf("demo --dir and --data-dir: exit %d\n%s", code, out)
	}
	// Both places given: the cards go where --cards-dir says.
	data2, cards := filepath.Join(t.TempDir(), "data"), filepath.Join(t.TempDir(), "cards")
	if code, out := runIn(t, "demo", "--data-dir", data2, "--cards-dir", cards); code != exitOK {
		t.Fatalf("demo --data-dir --cards-dir: exit %d\n%s", code, out)
	}
	names, _ := filepath.Glob(filepath.Join(cards, "*.img"))
	if len(names) != 3 {
		t.Fatalf("the demo's cards in %s: %v", cards, names)
	}
}

// TestCompletion: 'completion bash|zsh|fish' prints a script.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_ceremony", "zsh": "#compdef ceremony", "fish": "complete -c ceremony"} {
		code, out := runIn(t, "completion", shell)
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, want a script with %q:\n%.300s", shell, code, want, out)
		}
	}
}

// TestDocsUpToDate regenerates the command reference and compares it with
// the one checked in under docs/cli.
func TestDocsUpToDate(t *testing.T) {
	const regen = "run `go run ./cmd/ceremony docs --out docs/cli` and commit the result"
	tmp := t.TempDir()
	if code, out := runIn(t, "docs", "--out", tmp); code != exitOK {
		t.Fatalf("docs: exit %d\n%s", code, out)
	}
	checkedIn := filepath.Join("..", "..", docsDir)
	list := func(dir string) []string {
		m, err := filepath.Glob(filepath.Join(dir, "ceremony*.md"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range m {
			names = append(names, filepath.Base(p))
		}
		return names
	}
	want, got := list(tmp), list(checkedIn)
	for _, name := range want {
		if !slices.Contains(got, name) {
			t.Errorf("%s/%s is missing: %s", docsDir, name, regen)
		}
	}
	for _, name := range got {
		if !slices.Contains(want, name) {
			t.Errorf("%s/%s is of no command: %s", docsDir, name, regen)
		}
	}
	if t.Failed() {
		return
	}
	for _, name := range want {
		a, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(checkedIn, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Errorf("%s/%s differs from what the commands give: %s", docsDir, name, regen)
		}
	}
	if len(want) < 20 {
		t.Fatalf("only %d files generated: %v", len(want), want)
	}
}
