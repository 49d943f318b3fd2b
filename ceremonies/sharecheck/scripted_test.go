package sharecheck_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecheck"
	"github.com/ceremony-hsm/ceremony/events"
)

// TestScriptedShareCheckRecordsAnUnscriptedCard: a share check bound to a
// script that says "unscripted: deviation" goes on with a card the script
// does not name and records it (ceremony.unscripted); the script's step
// is checked off first. The hook is the shared card step, not the kind.
func TestScriptedShareCheckRecordsAnUnscriptedCard(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2", "c3"} {
		r.NewCard(n)
	}
	set := r.KeySet()
	k := sharecheck.ShareCheck()
	params := ceremonies.Params{"key-set": set, "verify-every": "180d"}
	first, err := k.Start.Begin(params, ceremonies.StartInfo{Operator: "carol", Reader: r.Port.Name(), Inventory: r.Views.Inventory})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := r.Eng.Start(r.Ctx, sharecheck.Kind, "check-s", events.SourceOperator, first[0])
	if err != nil {
		t.Fatal(err)
	}
	bound := &events.ScriptBound{SHA256: strings.Repeat("ab", 32), File: "check.yaml", Unscripted: "deviation",
		Cards: []events.ScriptCard{{Serial: r.Serial("c1"), Custodian: "Carol"}, {Serial: r.Serial("c2"), Custodian: "Dan"}},
		Steps: []string{"Each custodian states their name."}}
	for _, p := range append(first[1:], bound) {
		if err := inst.Record(r.Ctx, events.SourceOperator, p); err != nil {
			t.Fatal(err)
		}
	}
	env := r.Env()
	env.Station.Script = ceremonies.ScriptedFrom([]events.Payload{bound})
	r.Hand.Choose = rehearsal.Plan("c3", "c1", "c2")
	r.Pad.Push(ok, ok, r.PIN("c3"), ok, ok, r.PIN("c1"), ok, ok, r.PIN("c2"))
	runner, err := k.NewRunner(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Run(r.Ctx, inst); err != nil {
		t.Fatalf("share check: %v", err)
	}
	if inst.Phase() != sharecheck.PhaseCompleted {
		t.Fatalf("phase %s", inst.Phase())
	}
	un := payloads[*events.Unscripted](r, inst.ID())
	if len(un) != 1 || un[0].What != "card" || un[0].Name != r.Serial("c3") || !strings.Contains(un[0].Message, "record it as a deviation") {
		t.Fatalf("unscripted: %+v", un)
	}
	steps := payloads[*events.ScriptStepChecked](r, inst.ID())
	if len(steps) != 1 || steps[0].Step != 1 || steps[0].By != "carol" {
		t.Fatalf("steps checked off: %+v", steps)
	}
	if n := len(payloads[*sharecheck.ShareVerified](r, inst.ID())); n != 3 {
		t.Fatalf("%d shares verified, want 3 (the unscripted card goes on)", n)
	}
	if n := len(payloads[*events.CardRefused](r, inst.ID())); n != 0 {
		t.Fatalf("%d cards refused, want 0", n)
	}
}

// desk answers witness sign-offs from a list (a test's witness desk).
type desk struct{ answers []ceremonies.WitnessAnswer }

func (d *desk) AskWitness(_ context.Context, _, _ int) (ceremonies.WitnessAnswer, error) {
	if len(d.answers) == 0 {
		return ceremonies.WitnessAnswer{}, errors.New("desk: no more sign-offs")
	}
	a := d.answers[0]
	d.answers = d.answers[1:]
	return a, nil
}

// TestScriptedWitnesses: the witnesses a script names are the ones who
// sign off: under "unscripted: refuse" a sign-off by someone else is
// turned away and the named witness asked for; under "unscripted:
// deviation" it is taken and recorded as a deviation (ceremony.unscripted,
// accepted in whatever phase the sign-off comes).
func TestScriptedWitnesses(t *testing.T) {
	for _, policy := range []string{"refuse", "deviation"} {
		t.Run(policy, func(t *testing.T) {
			r := newRig(t)
			for _, n := range []string{"c1", "c2", "c3"} {
				r.NewCard(n)
			}
			set := r.KeySet()
			k, err := kinds.Lookup(sharecheck.Kind) // with the generic --witnesses
			if err != nil {
				t.Fatal(err)
			}
			first, err := k.Start.Begin(ceremonies.Params{"key-set": set, "witnesses": "1"}, ceremonies.StartInfo{Operator: "carol", Reader: r.Port.Name(), Inventory: r.Views.Inventory})
			if err != nil {
				t.Fatal(err)
			}
			inst, err := r.Eng.Start(r.Ctx, sharecheck.Kind, "check-w", events.SourceOperator, first[0])
			if err != nil {
				t.Fatal(err)
			}
			named := []events.ScriptWitness{{Name: "Wendy Witness", Role: "auditor"}}
			bound := &events.ScriptBound{SHA256: strings.Repeat("cd", 32), File: "check.yaml", Unscripted: policy, Witnesses: named,
				Cards: []events.ScriptCard{{Serial: r.Serial("c1"), Custodian: "Carol"}, {Serial: r.Serial("c2"), Custodian: "Dan"}, {Serial: r.Serial("c3"), Custodian: "Erin"}}}
			for _, p := range append(first[1:], bound) {
				if wr, ok := p.(*events.WitnessesRequired); ok {
					wr.Named = named
				}
				if err := inst.Record(r.Ctx, events.SourceOperator, p); err != nil {
					t.Fatal(err)
				}
			}
			env := r.Env()
			env.Station.Script = ceremonies.ScriptedFrom([]events.Payload{bound})
			env.Station.Witnesses = &desk{answers: []ceremonies.WitnessAnswer{{Name: "Mallory", Role: "auditor"}, {Name: "wendy witness", Role: "Auditor"}}}
			r.Hand.Choose = rehearsal.Plan("c1", "c2", "c3")
			r.Pad.Push(ok, r.PIN("c1"), ok, ok, r.PIN("c2"), ok, ok, r.PIN("c3"))
			runner, err := k.NewRunner(env)
			if err != nil {
				t.Fatal(err)
			}
			if err := runner.Run(r.Ctx, inst); err != nil {
				t.Fatalf("share check: %v", err)
			}
			if inst.Phase() != sharecheck.PhaseCompleted {
				t.Fatalf("phase %s", inst.Phase())
			}
			req := payloads[*events.WitnessesRequired](r, inst.ID())
			if len(req) != 1 || req[0].Count != 1 || len(req[0].Named) != 1 || req[0].Named[0].Name != "Wendy Witness" {
				t.Fatalf("witnesses_required: %+v", req)
			}
			signed := payloads[*events.Witnessed](r, inst.ID())
			un := payloads[*events.Unscripted](r, inst.ID())
			switch policy {
			case "refuse":
				if len(signed) != 1 || signed[0].Name != "wendy witness" || len(un) != 0 || !strings.Contains(r.Out.String(), "Mallory (auditor) is not a witness the ceremony's script (check.yaml) names: it names Wendy Witness (auditor): the sign-off is not taken") {
					t.Fatalf("refuse: witnessed %+v, unscripted %+v\n%s", signed, un, r.Out.String())
				}
			case "deviation":
				if len(signed) != 1 || signed[0].Name != "Mallory" || len(un) != 1 || un[0].What != "witness" || un[0].Name != "Mallory" || !strings.Contains(un[0].Message, "record it as a deviation") {
					t.Fatalf("deviation: witnessed %+v, unscripted %+v", signed, un)
				}
			}
		})
	}
}
