// Package custody assigns a card to its custodian and gives it a label,
// by event: the manual's "assign a smart card to another person". Each
// assignment is a ceremony of one event (card-assign), started by its own
// command ('ceremony cards assign'); the inventory keeps the latest
// custodian and label of each card, which 'ceremony cards', health and
// the report show. A PIN change may record a reassignment too (the same
// event, declared by that kind).
package custody

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Kind and phases: an assignment is complete the moment it is recorded.
const (
	Kind           = "card-assign"
	PhaseCompleted = ceremonies.PhaseCompleted
)

// Assigned records a card's custodian and label. An empty field keeps
// the card's current value; Previous is the custodian before (empty when
// none), so the registry's history reads without a replay.
type Assigned struct {
	Serial    string `json:"serial"`
	Custodian string `json:"custodian"`
	Label     string `json:"label"`
	Previous  string `json:"previous"`
	By        string `json:"by"`
}

func (Assigned) EventType() string { return "custody.card_assigned" }

// CardAssign is the card-assign kind.
func CardAssign() ceremonies.Kind {
	return ceremonies.Kind{
		Definition: &engine.Definition{
			Kind: Kind, First: Assigned{}.EventType(), Initial: PhaseCompleted,
			Terminal: []string{PhaseCompleted},
			NewState: func() engine.State { return &State{} },
		},
		Payloads:  []events.PayloadType{events.Declare[Assigned]()},
		Completed: PhaseCompleted,
		NewRunner: func(ceremonies.Env) (ceremonies.Runner, error) { return done{}, nil },
		Summary:   ceremonies.SummaryOf(summary),
		Project:   Project,
	}
}

// Project folds an assignment into the card registry; a kind that
// records Assigned (a PIN change that reassigns) uses it too.
func Project(inv *inventory.Inventory, _ events.Envelope, p events.Payload) {
	if ev, ok := p.(*Assigned); ok {
		inv.CardAssigned(ev.Serial, ev.Custodian, ev.Label)
	}
}

// State is the fold of one assignment.
type State struct{ Assigned }

// Apply folds one event. Pure.
func (s *State) Apply(_ events.Envelope, p events.Payload) {
	if ev, ok := p.(*Assigned); ok {
		s.Assigned = *ev
	}
}

func summary(s *State) []ceremonies.Row {
	rows := []ceremonies.Row{{Name: "card", Value: s.Serial}, {Name: "assigned by", Value: s.By}}
	if s.Custodian != "" {
		rows = append(rows, ceremonies.Row{Name: "custodian", Value: s.Custodian})
	}
	if s.Previous != "" && s.Previous != s.Custodian {
		rows = append(rows, ceremonies.Row{Name: "previous custodian", Value: s.Previous})
	}
	if s.Label != "" {
		rows = append(rows, ceremonies.Row{Name: "label", Value: s.Label})
	}
	return rows
}

// done is the runner of a ceremony that ended with its first event.
type done struct{}

func (done) Run(context.Context, *engine.Instance) error { return nil }

// New checks an assignment against the registry and returns its event:
// the card must be known (a card is registered when first presented), at
// least one of custodian and label given, each a printable name of at
// most 64 characters.
func New(inv *inventory.Inventory, serial, custodian, label, by string) (*Assigned, error) {
	custodian, label = strings.TrimSpace(custodian), strings.TrimSpace(label)
	if custodian == "" && label == "" {
		return nil, ceremonies.Usagef("give --custodian, --label or both: nothing to assign to card %s", serial)
	}
	for _, f := range []struct{ flag, v string }{{"--custodian", custodian}, {"--label", label}, {"--operator", by}} {
		if len(f.v) > 64 || strings.IndexFunc(f.v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return nil, ceremonies.Usagef("%s %q: use at most 64 printable characters", f.flag, f.v)
		}
	}
	c, ok := inv.Card(serial)
	if !ok {
		return nil, ceremonies.Usagef("card %s is not in the registry: 'ceremony cards' lists the cards; a card is registered when it is first presented in a ceremony", serial)
	}
	return &Assigned{Serial: serial, Custodian: custodian, Label: label, Previous: c.Custodian, By: by}, nil
}

// Describe says what an assignment changed, for the operator.
func Describe(a *Assigned) string {
	var parts []string
	if a.Custodian != "" {
		if a.Previous != "" && a.Previous != a.Custodian {
			parts = append(parts, fmt.Sprintf("custodian %s (was %s)", a.Custodian, a.Previous))
		} else {
			parts = append(parts, "custodian "+a.Custodian)
		}
	}
	if a.Label != "" {
		parts = append(parts, fmt.Sprintf("label %q", a.Label))
	}
	return fmt.Sprintf("Card %s: %s.", a.Serial, strings.Join(parts, ", "))
}
