package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// validDefinition is a small, valid machine: start -> a -> b.
func validDefinition() *engine.Definition {
	return &engine.Definition{
		Kind:     "test-kind",
		Initial:  "a",
		First:    "test.started",
		Terminal: []string{"b"},
		Transitions: []engine.Transition{
			{Event: "test.next", From: []string{"a"}, To: "b"},
		},
		NewState: func() engine.State { return nopState{} },
	}
}

type nopState struct{}

func (nopState) Apply(events.Envelope, events.Payload) {}

func TestDefinitionValidation(t *testing.T) {
	cases := []struct {
		name    string
		change  func(d *engine.Definition)
		wantErr string // "" for a valid definition
	}{
		{"valid", func(*engine.Definition) {}, ""},
		{"one event from several phases", func(d *engine.Definition) {
			d.Transitions = append(d.Transitions, engine.Transition{Event: "test.stop", From: []string{"a", "b"}, To: "c"})
		}, ""},
		{"one event, several transitions", func(d *engine.Definition) {
			d.Transitions = append(d.Transitions, engine.Transition{Event: "test.next", From: []string{"b"}, To: "c"})
		}, ""},
		{"missing kind", func(d *engine.Definition) { d.Kind = "" }, "required"},
		{"missing initial phase", func(d *engine.Definition) { d.Initial = "" }, "required"},
		{"missing first event", func(d *engine.Definition) { d.First = "" }, "required"},
		{"missing NewState", func(d *engine.Definition) { d.NewState = nil }, "required"},
		{"transition without event", func(d *engine.Definition) { d.Transitions[0].Event = "" }, "required"},
		{"transition without target", func(d *engine.Definition) { d.Transitions[0].To = "" }, "required"},
		{"transition without source phases", func(d *engine.Definition) { d.Transitions[0].From = nil }, "required"},
		{"self-transition", func(d *engine.Definition) {
			d.Transitions = append(d.Transitions, engine.Transition{Event: "test.again", From: []string{"a"}, To: "a"})
		}, "self-transition"},
		{"self-transition among other sources", func(d *engine.Definition) {
			d.Transitions = append(d.Transitions, engine.Transition{Event: "test.again", From: []string{"b", "c"}, To: "c"})
		}, "self-transition"},
		{"duplicate (event, from) in two transitions", func(d *engine.Definition) {
			d.Transitions = append(d.Transitions, engine.Transition{Event: "test.next", From: []string{"a"}, To: "c"})
		}, "twice"},
		{"duplicate from in one transition", func(d *engine.Definition) {
			d.Transitions[0].From = []string{"a", "a"}
		}, "twice"},
		{"first event used again", func(d *engine.Definition) {
			d.Transitions = append(d.Transitions, engine.Transition{Event: "test.started", From: []string{"b"}, To: "a"})
		}, "first event"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := validDefinition()
			c.change(d)
			_, err := engine.New(engine.Config{Store: &memStore{}, Registry: kinds.Registry(), Definitions: []*engine.Definition{d}})
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("engine.New refused a valid definition: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("engine.New accepted it; want an error with %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("engine.New: %v; want an error with %q", err, c.wantErr)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	reg := kinds.Registry()
	cases := []struct {
		name string
		cfg  engine.Config
	}{
		{"no store", engine.Config{Registry: reg}},
		{"no registry", engine.Config{Store: &memStore{}}},
		{"a kind defined twice", engine.Config{Store: &memStore{}, Registry: reg,
			Definitions: []*engine.Definition{backupkey.GenerateDefinition(), backupkey.GenerateDefinition()}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := engine.New(c.cfg); err == nil {
				t.Fatal("engine.New accepted it")
			}
		})
	}
	eng, err := engine.New(engine.Config{Store: &memStore{}, Registry: reg, Definitions: []*engine.Definition{backupkey.GenerateDefinition(), backupkey.LoadDefinition()}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(eng.Kinds(), ","); got != backupkey.KindGenerate+","+backupkey.KindLoad {
		t.Errorf("Kinds() = %s", got)
	}
	if _, err := eng.Definition("share-copy"); !errors.Is(err, engine.ErrUnknownKind) {
		t.Errorf("Definition(unknown) = %v, want ErrUnknownKind", err)
	}
}

func TestDiagramListsEveryEdge(t *testing.T) {
	for _, d := range kinds.Definitions() {
		got := d.Diagram()
		if !strings.HasPrefix(got, "stateDiagram-v2\n") {
			t.Errorf("%s: diagram does not start with stateDiagram-v2", d.Kind)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(got, "\n") {
			lines[l] = true
		}
		want := []string{"    [*] --> " + d.Initial + ": " + d.First}
		for _, tr := range d.Transitions {
			for _, f := range tr.From {
				want = append(want, "    "+f+" --> "+tr.To+": "+tr.Event)
			}
		}
		for _, term := range d.Terminal {
			want = append(want, "    "+term+" --> [*]")
		}
		for _, w := range want {
			if !lines[w] {
				t.Errorf("%s: diagram lacks %q", d.Kind, w)
			}
		}
		for phase := range d.Data {
			want = append(want, "    note right of "+phase+": data "+strings.Join(d.DataEvents(phase), ", "))
		}
		for _, w := range want[len(want)-len(d.Data):] {
			if !lines[w] {
				t.Errorf("%s: diagram lacks the data events %q", d.Kind, w)
			}
		}
		if n := strings.Count(got, "\n") - 1; n != len(want) {
			t.Errorf("%s: diagram has %d edges, want %d", d.Kind, n, len(want))
		}
	}
}
