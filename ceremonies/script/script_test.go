package script

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

var kinds = []KindInfo{{Name: "backup-key-generate", Params: []string{"quorum", "witnesses"}, Check: func(p map[string]string) error {
	if q := p["quorum"]; q != "" && q != "2-of-3" && q != "3-of-5" {
		return fmt.Errorf("--quorum %s: use k-of-n", q)
	}
	return nil
}}}

const good = `title: Backup Key 2026
kind: backup-key-generate
params:
  quorum: 2-of-3
unscripted: refuse
operators: [alice]
custodians:
  - name: Carol Custodian
    card: FFFE00004001
  - name: Dan Custodian
    card: FFFE00004002
witnesses:
  - name: Wendy Witness
    role: auditor
approvals:
  - role: security officer
steps:
  - Read the purpose of the ceremony aloud.
  - Check the seals of the HSM.
`

func TestParseAndCheck(t *testing.T) {
	s, err := Parse("gen.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(kinds); err != nil {
		t.Fatal(err)
	}
	if len(s.SHA256) != 64 || s.Policy() != Refuse || len(s.Custodians) != 2 || s.Params["quorum"] != "2-of-3" {
		t.Fatalf("%+v", s)
	}
	b := s.Bound("gen.yaml")
	if b.SHA256 != s.SHA256 || len(b.Cards) != 2 || b.Cards[1].Serial != "FFFE00004002" || len(b.Steps) != 2 {
		t.Fatalf("bound: %+v", b)
	}
}

// TestErrorsNameTheLine: each kind of mistake is reported with the line
// it is on.
func TestErrorsNameTheLine(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string // "file:line: text"
	}{
		{"unknown key", "kind: backup-key-generate\ncustodians:\n  - name: C\n    card: FFFE00004001\n    pin: 123456\n",
			[]string{`s.yaml:5: field pin not found (a custodian has name and card)`}},
		{"unknown top key", "kind: backup-key-generate\nquorum: 2-of-3\n", []string{`s.yaml:2: field quorum not found`}},
		{"syntax", "kind: backup-key-generate\nsteps:\n  - a\n - b\n", []string{"s.yaml:3: did not find expected key"}},
		{"wrong type", "kind: backup-key-generate\nsteps:\n  item: x\n", []string{"s.yaml:3: cannot unmarshal"}},
		{"empty", "", []string{"s.yaml:1: the file is empty"}},
		{"two documents", "kind: backup-key-generate\n---\nkind: x\n", []string{"s.yaml:2: a second YAML document"}},
	}
	for _, tc := range cases {
		_, err := Parse("s.yaml", []byte(tc.text))
		checkErr(t, tc.name, err, tc.want)
	}
	semantic := []struct {
		name, text string
		want       []string
	}{
		{"unknown kind", "title: x\nkind: backup-key-frobnicate\n", []string{`s.yaml:2: kind "backup-key-frobnicate" is not a kind a script can start: use one of backup-key-generate`}},
		{"no kind", "title: x\n", []string{"s.yaml:1: kind is missing"}},
		{"unknown param and policy", "kind: backup-key-generate\nunscripted: maybe\nparams:\n  quorum: 2-of-3\n  shares: 5\n",
			[]string{`s.yaml:2: unscripted: "maybe"`, `s.yaml:5: parameter "shares" is not a parameter of backup-key-generate (it takes: quorum, witnesses)`}},
		{"bad param value", "kind: backup-key-generate\nparams:\n  quorum: 9-of-3\n", []string{"s.yaml:2: parameters: --quorum 9-of-3"}},
		{"cards", "kind: backup-key-generate\ncustodians:\n  - name: C\n    card: FFFE00004001\n  - name: D\n    card: FFFE00004001\n  - name: E\n    card: fffe0001\n  - card: FFFE00004003\n  - name: G\n",
			[]string{"s.yaml:6: card FFFE00004001 is named twice (also at line 4)", `s.yaml:8: card "fffe0001": a card serial is 12 upper-case hex digits`, "s.yaml:9: custodian 4 has no name", "s.yaml:10: custodian 5 (G) names no card"}},
		{"people and steps", "kind: backup-key-generate\nwitnesses:\n  - name: W\napprovals:\n  - name: A\nsteps:\n  - ok\n  - \"  \"\n",
			[]string{"s.yaml:3: witness 1 has no role", "s.yaml:5: approval 1 has no role", "s.yaml:8: step 2 is empty"}},
	}
	for _, tc := range semantic {
		s, err := Parse("s.yaml", []byte(tc.text))
		if err != nil {
			t.Fatalf("%s: parse: %v", tc.name, err)
		}
		checkErr(t, tc.name, s.Check(kinds), tc.want)
	}
}

func checkErr(t *testing.T, name string, err error, want []string) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("%s: error %v (%T), want Errors", name, err, err)
	}
	if len(es) != len(want) {
		t.Errorf("%s: %d errors, want %d:\n%v", name, len(es), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: the errors lack %q:\n%v", name, w, err)
		}
	}
}

func TestRender(t *testing.T) {
	s, err := Parse("gen.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := s.Render(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Backup Key 2026", "SHA-256:      " + s.SHA256, "Read aloud:   ", "Kind:         backup-key-generate", "quorum=2-of-3",
		"a card or person it does not name is REFUSED", "[ ] 1. Carol Custodian", "card FFFE00004001", "[ ] 2. Dan Custodian",
		"Witnesses required", "auditor", "Wendy Witness", "Approvals needed", "security officer", "name: ________________",
		"[ ] 1. Read the purpose of the ceremony aloud.", "[ ] 2. Check the seals of the HSM.", "time: ________  initials: ______",
		"Printed name", "Auditor"} {
		if !strings.Contains(out, want) {
			t.Errorf("the checklist lacks %q:\n%s", want, out)
		}
	}
}

// TestWitnessCountAgreesWithTheList: the witness list sets the count; a
// params.witnesses that says otherwise is an error at its line, one that
// agrees is fine.
func TestWitnessCountAgreesWithTheList(t *testing.T) {
	text := strings.Replace(good, "  quorum: 2-of-3\n", "  quorum: 2-of-3\n  witnesses: \"2\"\n", 1)
	s, err := Parse("gen.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Check(kinds)
	if err == nil || !strings.Contains(err.Error(), "gen.yaml:5: params.witnesses is 2 but the script lists 1 witnesses") {
		t.Fatalf("check: %v", err)
	}
	s, err = Parse("gen.yaml", []byte(strings.Replace(text, `witnesses: "2"`, `witnesses: "1"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(kinds); err != nil {
		t.Fatalf("a count agreeing with the list: %v", err)
	}
}
