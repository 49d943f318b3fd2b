package engine

import (
	"fmt"
	"sort"
	"strings"

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

// Definition describes one ceremony kind: its phases, the events that
// move it from phase to phase, and the data events each phase accepts.
// An event the current phase neither moves on nor declares is refused
// (ErrUndeclared); nothing is accepted by default.
type Definition struct {
	Kind        string
	Initial     string // the phase the first event leads to
	First       string // the event type that must open the ceremony
	Terminal    []string
	Transitions []Transition
	// Data lists, per phase, the data events recorded in it: they change
	// the state but not the phase. A paused phase (see Pausable) accepts
	// the data events of the phase it pauses: an effect in flight when
	// the deadline passed still records its outcome. The engine's own
	// step events (step.deadline_set, step.extended, step.completed) are
	// accepted in every phase that is not terminal.
	Data     map[string][]string
	NewState func() State
	// Annotations are event types allowed in every phase, terminal ones
	// included, that never change the phase (a witness's sign-off after
	// the end, say).
	Annotations []string
}

// pausedSuffix makes the paused phase of a phase that waits for a person.
const pausedSuffix = "_paused"

// PausedPhase returns the phase a step timeout of phase leads to.
func PausedPhase(phase string) string { return phase + pausedSuffix }

// IsPaused reports whether phase is a paused phase (see Pausable).
func IsPaused(phase string) bool { return strings.HasSuffix(phase, pausedSuffix) }

// Pausable returns, for each phase that waits for the operator, the edges
// of a step timeout (phase -> phase_paused) and of its retry (back).
func Pausable(phases ...string) []Transition {
	timedOut, retried := events.StepTimedOut{}.EventType(), events.StepRetried{}.EventType()
	var ts []Transition
	for _, p := range phases {
		ts = append(ts,
			Transition{Event: timedOut, From: []string{p}, To: PausedPhase(p)},
			Transition{Event: retried, From: []string{PausedPhase(p)}, To: p})
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
	phases := d.phases()
	for phase, types := range d.Data {
		if !phases[phase] {
			return fmt.Errorf("engine: definition %q: data events declared for %q, which no transition reaches", d.Kind, phase)
		}
		if d.IsTerminal(phase) {
			return fmt.Errorf("engine: definition %q: phase %q is terminal: an event after the end is an annotation", d.Kind, phase)
		}
		for _, typ := range types {
			if d.isTransition(typ) || d.isAnnotation(typ) {
				return fmt.Errorf("engine: definition %q: %q in phase %q is a transition or an annotation, not a data event", d.Kind, typ, phase)
			}
		}
	}
	return nil
}

// phases returns every phase the machine can be in.
func (d *Definition) phases() map[string]bool {
	out := map[string]bool{d.Initial: true}
	for _, t := range d.Transitions {
		out[t.To] = true
		for _, f := range t.From {
			out[f] = true
		}
	}
	return out
}

// acceptsData reports whether phase accepts the data event typ.
func (d *Definition) acceptsData(phase, typ string) bool {
	if d.IsTerminal(phase) || phase == preStart {
		return false
	}
	if typ == stepDeadlineSet || typ == stepCompleted || typ == stepExtended {
		return true
	}
	types, ok := d.Data[phase]
	if !ok && IsPaused(phase) {
		types = d.Data[strings.TrimSuffix(phase, pausedSuffix)]
	}
	for _, t := range types {
		if t == typ {
			return true
		}
	}
	return false
}

// DataEvents returns the data events phase accepts, sorted (the engine's
// step events aside).
func (d *Definition) DataEvents(phase string) []string {
	var out []string
	for _, typ := range d.Data[phase] {
		out = append(out, typ)
	}
	if _, ok := d.Data[phase]; !ok && IsPaused(phase) {
		out = append(out, d.Data[strings.TrimSuffix(phase, pausedSuffix)]...)
	}
	sort.Strings(out)
	return out
}

var (
	stepDeadlineSet = events.StepDeadlineSet{}.EventType()
	stepCompleted   = events.StepCompleted{}.EventType()
	stepExtended    = events.StepExtended{}.EventType()
)

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
	phases := make([]string, 0, len(d.Data))
	for p := range d.Data {
		phases = append(phases, p)
	}
	sort.Strings(phases)
	for _, p := range phases {
		out += fmt.Sprintf("    note right of %s: data %s\n", p, strings.Join(d.DataEvents(p), ", "))
	}
	terms := append([]string(nil), d.Terminal...)
	sort.Strings(terms)
	for _, t := range terms {
		out += fmt.Sprintf("    %s --> [*]\n", t)
	}
	return out
}
