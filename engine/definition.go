package engine

import (
	"fmt"
	"sort"

	"github.com/looplab/fsm"

	"github.com/ceremony-hsm/ceremony/events"
)

// State is the fold of one ceremony's events. Apply must be pure: no I/O,
// no clock, no randomness; the same events always give the same state.
type State interface {
	Apply(e events.Envelope, p events.Payload)
}

// Transition is one edge of a ceremony's machine: the event type that
// causes it, the phases it may start from, and the phase it leads to. One
// event type may have several Transitions with different From phases.
type Transition struct {
	Event string
	From  []string
	To    string
}

// Definition describes one ceremony kind. Event types that are not the
// Event of any Transition are data events: allowed in any non-terminal
// phase, they change the state but not the phase.
type Definition struct {
	Kind        string
	Initial     string // the phase the first event leads to
	First       string // the event type that must open the ceremony
	Terminal    []string
	Transitions []Transition
	NewState    func() State
	// Annotations are event types allowed in every phase, terminal ones
	// included, that never change the phase (a witness's sign-off after
	// the end, say).
	Annotations []string
}

// Pausable returns, for each phase that waits for the operator, the edges
// of a step timeout (phase -> phase_paused) and of its retry (back).
func Pausable(phases ...string) []Transition {
	timedOut, retried := events.StepTimedOut{}.EventType(), events.StepRetried{}.EventType()
	var ts []Transition
	for _, p := range phases {
		ts = append(ts,
			Transition{Event: timedOut, From: []string{p}, To: p + "_paused"},
			Transition{Event: retried, From: []string{p + "_paused"}, To: p})
	}
	return ts
}

// preStart is the machine's phase before the first event.
const preStart = "none"

func (d *Definition) validate() error {
	if d.Kind == "" || d.Initial == "" || d.First == "" || d.NewState == nil {
		return fmt.Errorf("engine: definition %q: kind, initial phase, first event and NewState are required", d.Kind)
	}
	seen := map[[2]string]bool{}
	for _, t := range d.Transitions {
		if t.Event == "" || t.To == "" || len(t.From) == 0 {
			return fmt.Errorf("engine: definition %q: transition %q -> %q: event, from and to phases are required", d.Kind, t.Event, t.To)
		}
		if t.Event == d.First {
			return fmt.Errorf("engine: definition %q: the first event %q cannot be used again", d.Kind, t.Event)
		}
		if d.isAnnotation(t.Event) {
			return fmt.Errorf("engine: definition %q: %q is an annotation and cannot change the phase", d.Kind, t.Event)
		}
		for _, f := range t.From {
			if seen[[2]string{t.Event, f}] {
				return fmt.Errorf("engine: definition %q: event %q leaves %q twice", d.Kind, t.Event, f)
			}
			seen[[2]string{t.Event, f}] = true
			if f == t.To {
				return fmt.Errorf("engine: definition %q: %q is a self-transition on %q: make it a data event", d.Kind, t.Event, f)
			}
		}
	}
	return nil
}

func (d *Definition) isTransition(eventType string) bool {
	if eventType == d.First {
		return true
	}
	for _, t := range d.Transitions {
		if t.Event == eventType {
			return true
		}
	}
	return false
}

func (d *Definition) isAnnotation(eventType string) bool {
	for _, a := range d.Annotations {
		if a == eventType {
			return true
		}
	}
	return false
}

// IsTerminal reports whether phase ends the ceremony.
func (d *Definition) IsTerminal(phase string) bool {
	for _, t := range d.Terminal {
		if t == phase {
			return true
		}
	}
	return false
}

// newMachine builds a fresh looplab/fsm machine in the pre-start phase.
// It has no callbacks: it only checks and tracks transitions.
func (d *Definition) newMachine() *fsm.FSM {
	evs := fsm.Events{{Name: d.First, Src: []string{preStart}, Dst: d.Initial}}
	for _, t := range d.Transitions {
		evs = append(evs, fsm.EventDesc{Name: t.Event, Src: t.From, Dst: t.To})
	}
	return fsm.NewFSM(preStart, evs, nil)
}

// Diagram returns the machine as a Mermaid state diagram, stable from run
// to run (the golden files in testdata/fsm are made from it).
func (d *Definition) Diagram() string {
	type edge struct{ from, to, ev string }
	var edges []edge
	edges = append(edges, edge{"[*]", d.Initial, d.First})
	for _, t := range d.Transitions {
		for _, f := range t.From {
			edges = append(edges, edge{f, t.To, t.Event})
		}
	}
	sort.SliceStable(edges, func(i, j int) bool {
		if edges[i].from != edges[j].from {
			return edges[i].from < edges[j].from
		}
		return edges[i].ev < edges[j].ev
	})
	out := "stateDiagram-v2\n"
	for _, e := range edges {
		out += fmt.Sprintf("    %s --> %s: %s\n", e.from, e.to, e.ev)
	}
	terms := append([]string(nil), d.Terminal...)
	sort.Strings(terms)
	for _, t := range terms {
		out += fmt.Sprintf("    %s --> [*]\n", t)
	}
	return out
}
