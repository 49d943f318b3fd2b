package script

import (
	"fmt"
	"io"
	"strings"

	"github.com/ceremony-hsm/ceremony/ceremonies/pgpwords"
)

// Render writes the script as the printable checklist the participants
// go through and sign on the day: the hash of the file as reviewed, the
// kind and its parameters, a line per custodian and card, per witness and
// per approval, and the steps to read aloud, each with a box to check, a
// time and initials.
func (s *Script) Render(w io.Writer) error {
	var b strings.Builder
	title := s.Title
	if title == "" {
		title = "Ceremony " + s.Kind
	}
	rule := strings.Repeat("=", 72)
	fmt.Fprintf(&b, "%s\n%s\n%s\n", rule, title, rule)
	fmt.Fprintf(&b, "Script file:  %s\nSHA-256:      %s\n", s.File, s.SHA256)
	if words, err := pgpwords.Hex(s.SHA256); err == nil {
		fmt.Fprintf(&b, "Read aloud:   %s\n", words)
	}
	fmt.Fprintf(&b, "              (compare with 'ceremony script check' and the report of the ceremony)\n")
	fmt.Fprintf(&b, "Kind:         %s\n", s.Kind)
	if len(s.Params) > 0 {
		fmt.Fprintf(&b, "Parameters:  ")
		for _, k := range sortedKeys(s.Params) {
			fmt.Fprintf(&b, " %s=%s", k, s.Params[k])
		}
		b.WriteString("\n")
	}
	switch s.Policy() {
	case Refuse:
		b.WriteString("Not in this script: a card or person it does not name is REFUSED.\n")
	default:
		b.WriteString("Not in this script: a card or person it does not name is RECORDED AS A DEVIATION.\n")
	}
	if len(s.Operators) > 0 {
		fmt.Fprintf(&b, "Operators:    %s\n", strings.Join(s.Operators, ", "))
	}
	section := func(name string) { fmt.Fprintf(&b, "\n%s\n%s\n", name, strings.Repeat("-", len(name))) }
	if len(s.Custodians) > 0 {
		section("Custodians and the card each brings")
		for i, c := range s.Custodians {
			fmt.Fprintf(&b, "[ ] %d. %-28s card %s   present: ______  signature: ______________\n", i+1, c.Name, c.Card)
		}
	}
	if len(s.Witnesses) > 0 {
		section("Witnesses required")
		for i, p := range s.Witnesses {
			fmt.Fprintf(&b, "[ ] %d. %-20s %-24s signature: ______________  date: ________\n", i+1, p.Role, orBlank(p.Name))
		}
	}
	if len(s.Approvals) > 0 {
		section("Approvals needed before the ceremony")
		for i, p := range s.Approvals {
			fmt.Fprintf(&b, "[ ] %d. %-20s %-24s signature: ______________  date: ________\n", i+1, p.Role, orBlank(p.Name))
		}
	}
	if len(s.Steps) > 0 {
		section("Steps to read aloud")
		for i, st := range s.Steps {
			fmt.Fprintf(&b, "[ ] %d. %s\n       time: ________  initials: ______\n", i+1, st)
		}
	}
	section("Signatures")
	b.WriteString("Capacity      Printed name              Date          Signature\n")
	for _, c := range []string{"Operator", "Witness", "Auditor"} {
		fmt.Fprintf(&b, "%-13s ________________________  ____________  ____________________\n", c)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orBlank(name string) string {
	if name == "" {
		return "name: ________________"
	}
	return name
}
