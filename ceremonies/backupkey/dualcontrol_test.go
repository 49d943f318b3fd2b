package backupkey_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/events"
)

// approvalDesk answers each AskApproval with the next of answers, and
// notes the card events recorded by then.
type approvalDesk struct {
	r       *rig
	id      string
	answers []ceremonies.ApprovalAnswer
	asked   int
}

func (d *approvalDesk) AskApproval(ctx context.Context, starter string) (ceremonies.ApprovalAnswer, error) {
	if starter != "alice" {
		d.r.T.Errorf("the desk is told the starter is %q, want alice", starter)
	}
	for _, typ := range d.r.Types(d.id) {
		if strings.HasPrefix(typ, "card.") {
			d.r.T.Errorf("asked for an approval after %s was recorded: the approval comes before the first card step", typ)
		}
	}
	if d.asked >= len(d.answers) {
		<-ctx.Done()
		return ceremonies.ApprovalAnswer{}, ctx.Err()
	}
	d.asked++
	return d.answers[d.asked-1], nil
}

// TestDualControlApprovalBeforeTheFirstCard: a generate under dual
// control (ceremony.approval_required, started by alice) waits at the
// station's approval desk before its first step; alice's own approval
// and a witness's are not taken, bob's (operator) is recorded as
// ceremony.approved before any card event, and the generate completes.
// A station without an approval desk (the terminal) stops before any
// card step with what to do.
func TestDualControlApprovalBeforeTheFirstCard(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	gen := r.StartGenerate("gen-dual", backupkey.Quorum{Threshold: 2, Shares: 3})
	if err := gen.Record(r.Ctx, events.SourceOperator, &events.ApprovalRequired{Starter: "alice"}); err != nil {
		t.Fatal(err)
	}
	desk := &approvalDesk{r: r, id: "gen-dual", answers: []ceremonies.ApprovalAnswer{
		{Name: "alice", Role: "operator"}, {Name: "wendy", Role: "witness"}, {Name: "bob", Role: "operator"}}}
	r.Script([]string{"c1", "c2", "c3", "c1", "c2"}, append(append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2", "c3")...), append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2")...)...)...)
	run := r.runner(false)
	run.Station.Approvals = desk
	if err := run.Run(r.Ctx, gen); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, gen, backupkey.PhaseCompleted)
	if desk.asked != 3 {
		t.Fatalf("the desk was asked %d times, want 3 (alice and wendy not taken, then bob)", desk.asked)
	}
	approved := payloads[*events.Approved](r, "gen-dual")
	if len(approved) != 1 || approved[0].By != "bob" || approved[0].Role != "operator" {
		t.Fatalf("approvals recorded: %+v, want bob's alone", approved)
	}
	out := r.Out.String()
	for _, want := range []string{"alice started this ceremony: under dual control a second operator must approve it", "wendy is a witness: only an operator approves", "Approved by bob (operator)."} {
		if !strings.Contains(out, want) {
			t.Errorf("the operator was not told %q:\n%s", want, out)
		}
	}

	// No approval desk at this station: stopped before any card step.
	gen2 := r.StartGenerate("gen-dual-terminal", backupkey.Quorum{Threshold: 2, Shares: 3})
	if err := gen2.Record(r.Ctx, events.SourceOperator, &events.ApprovalRequired{Starter: "alice"}); err != nil {
		t.Fatal(err)
	}
	err := r.runner(false).Run(r.Ctx, gen2)
	if err == nil || !strings.Contains(err.Error(), "this station cannot take an approval: resume it in the console") {
		t.Fatalf("a run under dual control at a station without an approval desk: %v", err)
	}
	for _, typ := range r.Types("gen-dual-terminal") {
		if strings.HasPrefix(typ, "card.") || typ == "step.deadline_set" {
			t.Fatalf("the run without an approval desk recorded %s", typ)
		}
	}
}
