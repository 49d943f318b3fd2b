// Package script reads a reviewed ceremony script: a strict YAML file
// (unknown keys are errors) naming the kind and its parameters, the
// custodians and the card each brings, the witnesses and approvals
// required, and the steps read aloud. A ceremony started from a script is
// bound to its SHA-256 (events.ScriptBound; ARCHITECTURE.md, "Ceremony
// semantics"). Every error names the file and the line.
package script

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/ceremony-hsm/ceremony/internal/yamllines"

	"go.yaml.in/yaml/v3"

	"github.com/ceremony-hsm/ceremony/events"
)

// What a script says to do with a card or participant it does not name.
const (
	Refuse    = "refuse"    // the card is refused (card.refused), the participant turned away
	Deviation = "deviation" // it goes on, recorded as a deviation (ceremony.unscripted)
)

// Script is one ceremony script as reviewed.
type Script struct {
	Title      string            `yaml:"title"`
	Kind       string            `yaml:"kind"`
	Params     map[string]string `yaml:"params"`
	Unscripted string            `yaml:"unscripted"`
	Operators  []string          `yaml:"operators"`
	Custodians []Custodian       `yaml:"custodians"`
	Witnesses  []Person          `yaml:"witnesses"`
	Approvals  []Person          `yaml:"approvals"`
	Steps      []string          `yaml:"steps"`

	// File is the name the script was read from; SHA256 the hex hash of
	// its bytes, as reviewed.
	File   string `yaml:"-"`
	SHA256 string `yaml:"-"`
	lines  map[string]int
}

// Custodian is a person who brings a card to the ceremony.
type Custodian struct {
	Name string `yaml:"name"`
	Card string `yaml:"card"` // the card's serial ('ceremony cards')
}

// Person is a witness or an approver: the role is required, the name
// when the script knows who it will be.
type Person struct {
	Name string `yaml:"name"`
	Role string `yaml:"role"`
}

// Error is one problem of a script, at a line of its file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Errors are every problem found in a script, in line order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Parse reads a script strictly: a YAML syntax error, an unknown key or a
// value of the wrong type is an error naming its line. It does not check
// the script against the kinds (Check does).
func Parse(file string, data []byte) (*Script, error) {
	sum := sha256.Sum256(data)
	s := &Script{File: file, SHA256: hex.EncodeToString(sum[:])}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{file, 1, "the file is empty: a script needs at least its kind"}}
		}
		return nil, yamlErrors(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, Errors{{file, extra.Line, "a second YAML document: a script is one document"}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErrors(file, err)
	}
	s.lines = yamllines.Lines(&root)
	return s, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlErrors turns the YAML library's errors ("line 3: field x not found
// in type script.Script") into Errors.
func yamlErrors(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out Errors
	for _, m := range msgs {
		line, msg := 1, m
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			line, _ = strconv.Atoi(g[1])
			msg = g[2]
		}
		msg = strings.Replace(msg, "in type script.Script", "(a script has title, kind, params, unscripted, operators, custodians, witnesses, approvals, steps)", 1)
		msg = strings.Replace(msg, "in type script.Custodian", "(a custodian has name and card)", 1)
		msg = strings.Replace(msg, "in type script.Person", "(a witness or approval has name and role)", 1)
		out = append(out, &Error{file, line, msg})
	}
	return out
}

// Line returns the line of path ("custodians.1.card"), or of the nearest
// enclosing key that has one, or 1.
func (s *Script) Line(path string) int {
	for path != "" {
		if l, ok := s.lines[path]; ok {
			return l
		}
		i := strings.LastIndex(path, ".")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 1
}

// KindInfo is what Check knows of a kind that can be started.
type KindInfo struct {
	Name   string
	Params []string
	// Check validates the parameters (with their defaults filled in);
	// its error names the parameter.
	Check func(params map[string]string) error
}

// serialRE is a card serial as the cards report it: the manufacturer and
// the serial of the OpenPGP card's AID, in upper-case hex.
var serialRE = regexp.MustCompile(`^[0-9A-F]{12}$`)

// Check validates the script against the kinds this build runs: the kind
// is known, its parameters exist and are valid, every custodian names a
// distinct card, every witness and approval a role, no step is empty.
// Every problem is reported, each with its line.
func (s *Script) Check(kinds []KindInfo) error {
	var es Errors
	add := func(path, format string, a ...any) {
		es = append(es, &Error{s.File, s.Line(path), fmt.Sprintf(format, a...)})
	}
	var kind *KindInfo
	var names []string
	for i := range kinds {
		names = append(names, kinds[i].Name)
		if kinds[i].Name == s.Kind {
			kind = &kinds[i]
		}
	}
	switch {
	case s.Kind == "":
		add("kind", "kind is missing: name the ceremony kind (one of %s)", strings.Join(names, ", "))
	case kind == nil:
		add("kind", "kind %q is not a kind a script can start: use one of %s", s.Kind, strings.Join(names, ", "))
	default:
		known := map[string]bool{}
		for _, p := range kind.Params {
			known[p] = true
		}
		bad := false
		for _, name := range sortedKeys(s.Params) {
			if !known[name] {
				bad = true
				add("params."+name, "parameter %q is not a parameter of %s (it takes: %s)", name, s.Kind, strings.Join(kind.Params, ", "))
			}
		}
		if v, ok := s.Params["witnesses"]; ok && len(s.Witnesses) > 0 && v != strconv.Itoa(len(s.Witnesses)) {
			bad = true
			add("params.witnesses", "params.witnesses is %s but the script lists %d witnesses: drop the parameter (the list sets the count) or make them agree", v, len(s.Witnesses))
		}
		if !bad && kind.Check != nil {
			if err := kind.Check(s.Params); err != nil {
				add("params", "parameters: %v", err)
			}
		}
	}
	switch s.Unscripted {
	case "", Refuse, Deviation:
	default:
		add("unscripted", "unscripted: %q: use %q (a card or person the script does not name is turned away) or %q (recorded as a deviation)", s.Unscripted, Refuse, Deviation)
	}
	for i, op := range s.Operators {
		if strings.TrimSpace(op) == "" {
			add(fmt.Sprintf("operators.%d", i), "operator %d has no name", i+1)
		}
	}
	cards := map[string]int{}
	for i, c := range s.Custodians {
		p := fmt.Sprintf("custodians.%d", i)
		if strings.TrimSpace(c.Name) == "" {
			add(p, "custodian %d has no name", i+1)
		}
		switch {
		case c.Card == "":
			add(p, "custodian %d (%s) names no card: give the serial of the card they bring ('ceremony cards')", i+1, c.Name)
		case !serialRE.MatchString(c.Card):
			add(p+".card", "card %q: a card serial is 12 upper-case hex digits, as 'ceremony cards' shows it", c.Card)
		case cards[c.Card] > 0:
			add(p+".card", "card %s is named twice (also at line %d): each custodian brings their own card", c.Card, cards[c.Card])
		default:
			cards[c.Card] = s.Line(p + ".card")
		}
	}
	for _, list := range []struct {
		key, one string
		people   []Person
	}{{"witnesses", "witness", s.Witnesses}, {"approvals", "approval", s.Approvals}} {
		for i, w := range list.people {
			if strings.TrimSpace(w.Role) == "" {
				add(fmt.Sprintf("%s.%d", list.key, i), "%s %d has no role: say in which capacity they sign (e.g. auditor)", list.one, i+1)
			}
		}
	}
	for i, st := range s.Steps {
		if strings.TrimSpace(st) == "" {
			add(fmt.Sprintf("steps.%d", i), "step %d is empty", i+1)
		}
	}
	for _, f := range []string{s.Title} {
		if strings.IndexFunc(f, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			add("title", "the title has a character that is not printable")
		}
	}
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}

// Policy is what the script says to do with what it does not name.
func (s *Script) Policy() string {
	if s.Unscripted == "" {
		return Refuse
	}
	return s.Unscripted
}

// Bound is the event that binds a ceremony to this script.
func (s *Script) Bound(file string) *events.ScriptBound {
	b := &events.ScriptBound{SHA256: s.SHA256, File: file, Title: s.Title, Unscripted: s.Policy(),
		Operators: s.Operators, Steps: s.Steps}
	for _, c := range s.Custodians {
		b.Cards = append(b.Cards, events.ScriptCard{Serial: c.Card, Custodian: c.Name})
	}
	for _, w := range s.Witnesses {
		b.Witnesses = append(b.Witnesses, events.ScriptWitness{Name: w.Name, Role: w.Role})
	}
	for _, w := range s.Approvals {
		b.Approvals = append(b.Approvals, events.ScriptWitness{Name: w.Name, Role: w.Role})
	}
	return b
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
