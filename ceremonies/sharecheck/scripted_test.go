package sharecheck_test

import (
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
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
		r.newCard(n)
	}
	set := r.generate()
	k := sharecheck.ShareCheck()
	params := ceremonies.Params{"key-set": set, "verify-every": "180d"}
	first, err := k.Start.Begin(params, ceremonies.StartInfo{Operator: "carol", Reader: r.port.Name(), Inventory: r.views.Inventory})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := r.eng.Start(r.ctx, sharecheck.Kind, "check-s", events.SourceOperator, first[0])
	if err != nil {
		t.Fatal(err)
	}
	bound := &events.ScriptBound{SHA256: strings.Repeat("ab", 32), File: "check.yaml", Unscripted: "deviation",
		Cards: []events.ScriptCard{{Serial: r.serial("c1"), Custodian: "Carol"}, {Serial: r.serial("c2"), Custodian: "Dan"}},
		Steps: []string{"Each custodian states their name."}}
	for _, p := range append(first[1:], bound) {
		if err := inst.Record(r.ctx, events.SourceOperator, p); err != nil {
			t.Fatal(err)
		}
	}
	env := r.env()
	env.Station.Script = ceremonies.ScriptedFrom([]events.Payload{bound})
	r.hand.Choose = rehearsal.Plan("c3", "c1", "c2")
	r.pad.Push(ok, ok, r.pin("c3"), ok, ok, r.pin("c1"), ok, ok, r.pin("c2"))
	runner, err := k.NewRunner(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Run(r.ctx, inst); err != nil {
		t.Fatalf("share check: %v", err)
	}
	if inst.Phase() != sharecheck.PhaseCompleted {
		t.Fatalf("phase %s", inst.Phase())
	}
	un := payloads[*events.Unscripted](r, inst.ID())
	if len(un) != 1 || un[0].What != "card" || un[0].Name != r.serial("c3") || !strings.Contains(un[0].Message, "record it as a deviation") {
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
