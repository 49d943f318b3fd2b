package kinds_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
)

// TestEveryKindIsComplete: each kind declares what every surface loops
// over, and every event its machine names is a registered payload type.
func TestEveryKindIsComplete(t *testing.T) {
	reg := kinds.Registry()
	commands := map[string]string{}
	names := map[string]bool{}
	for _, k := range kinds.List() {
		name := k.Name()
		if names[name] {
			t.Errorf("kind %s listed twice", name)
		}
		names[name] = true
		if k.NewRunner == nil || k.Summary == nil || k.Completed == "" || len(k.Payloads) == 0 {
			t.Errorf("%s: a runner, a summary, the completed phase and payload types are required", name)
		}
		if !k.Definition.IsTerminal(k.Completed) {
			t.Errorf("%s: completed phase %q is not terminal", name, k.Completed)
		}
		if k.Start != nil {
			if other, dup := commands[k.Start.Command]; dup {
				t.Errorf("%s and %s both start with %q", name, other, k.Start.Command)
			}
			commands[k.Start.Command] = name
			if k.Start.Begin == nil || k.Start.Short == "" {
				t.Errorf("%s: a start needs Begin and a Short help line", name)
			}
		}
		d := k.Definition
		used := []string{d.First}
		for _, tr := range d.Transitions {
			used = append(used, tr.Event)
		}
		used = append(used, d.Annotations...)
		for phase := range d.Data {
			used = append(used, d.DataEvents(phase)...)
		}
		for _, ef := range k.Effects {
			used = append(used, ef.Asked)
			used = append(used, ef.Answered...)
		}
		for typ := range k.Deviations {
			used = append(used, typ)
		}
		for _, typ := range used {
			if _, err := reg.CurrentVersion(typ); err != nil {
				t.Errorf("%s names %q, which no kind registers: %v", name, typ, err)
			}
		}
		st := d.NewState()
		if _, err := k.Summary(st); err != nil {
			t.Errorf("%s: summary of its own state: %v", name, err)
		}
	}
}

// TestASummaryRefusesAnotherKindsState: a state of the wrong type is an
// error naming it, never a panic.
func TestASummaryRefusesAnotherKindsState(t *testing.T) {
	list := kinds.List()
	for _, k := range list {
		own := fmt.Sprintf("%T", k.Definition.NewState())
		for _, o := range list {
			other := o.Definition.NewState()
			if fmt.Sprintf("%T", other) == own {
				continue // generate and load, say, share a state type
			}
			if _, err := k.Summary(other); err == nil {
				t.Errorf("%s: Summary accepted the state of %s", k.Name(), o.Name())
			}
		}
	}
}

func TestLookup(t *testing.T) {
	if _, err := kinds.Lookup("backup-key-generate"); err != nil {
		t.Fatal(err)
	}
	if _, err := kinds.Lookup("teleport"); !errors.Is(err, engine.ErrUnknownKind) {
		t.Fatalf("Lookup of an unknown kind: %v, want ErrUnknownKind", err)
	}
}
