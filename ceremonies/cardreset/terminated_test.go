package cardreset_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/cardreset"
	"github.com/ceremony-hsm/ceremony/events"
)

// TestResetTerminatedCard: a card left terminated (TERMINATE DF without
// ACTIVATE FILE) answers nothing but its activation; the reset activates
// it after the operator's OK, names what the registry says it held, and
// records the reset.
func TestResetTerminatedCard(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2", "c3"} {
		r.NewCard(n)
	}
	set := r.KeySet()
	cl, pull := r.Client("c3")
	if err := cl.Verify(openpgp.PW3, []byte(r.PINs["c3"])); err != nil {
		t.Fatal(err)
	}
	if err := cl.Terminate(); err != nil {
		t.Fatal(err)
	}
	pull()

	inst := r.reset("reset-t", ceremonies.Params{"serial": r.Serial("c3")}, []string{"c3"}, ok, ok)
	if inst.Phase() != cardreset.PhaseCompleted {
		t.Fatalf("phase %s", inst.Phase())
	}
	named := payloads[*cardreset.ContentNamed](r, inst.ID())
	if len(named) != 1 || named[0].From != cardreset.FromRegistryTerminated || named[0].Index != 3 || !strings.Contains(named[0].Loss, "found terminated") {
		t.Fatalf("content_named: %+v", named)
	}
	if r.Cards["c3"].Terminated() {
		t.Fatal("the card is still terminated")
	}
	c, _ := r.Views.Inventory.Card(r.Serial("c3"))
	if c.KeySetID != "" {
		t.Fatalf("the registry still says card c3 holds share %d of %s", c.ShareIndex, set)
	}
}

// crashPort hands out cards whose reset stops after TERMINATE DF: the
// process "dies" before ACTIVATE FILE.
type crashPort struct {
	ceremonies.CardReader
	r *rig
}

type crashCard struct {
	ceremonies.Card
	cardreset.Resetter
	r *rig
}

func (p crashPort) WaitCard(ctx context.Context) (ceremonies.Card, error) {
	c, err := p.CardReader.WaitCard(ctx)
	if err != nil {
		return nil, err
	}
	return crashCard{Card: c, Resetter: c.(cardreset.Resetter), r: p.r}, nil
}

func (c crashCard) ResetToFactory() error {
	resp := c.r.Cards["c2"].Process([]byte{0x00, 0xE6, 0x00, 0x00}) // TERMINATE DF, PW3 verified
	if len(resp) != 2 || resp[0] != 0x90 {
		return errors.New("TERMINATE DF refused")
	}
	return errors.New("the process died")
}

// TestResetInterruptedAfterTerminate: the process stops between TERMINATE
// DF and ACTIVATE FILE; the resumed reset finds the card terminated,
// activates it and records the reset that was confirmed before the stop,
// with the loss then named.
func TestResetInterruptedAfterTerminate(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2", "c3"} {
		r.NewCard(n)
	}
	r.KeySet()
	k := cardreset.CardResetKind()
	first, err := k.Start.Begin(ceremonies.Params{}, ceremonies.StartInfo{Operator: "carol", Reader: r.Port.Name(), Inventory: r.Views.Inventory})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := r.Eng.Start(r.Ctx, cardreset.Kind, "reset-x", events.SourceOperator, first[0])
	if err != nil {
		t.Fatal(err)
	}
	env := r.Env()
	env.Station.Reader = crashPort{CardReader: r.Port, r: r}
	r.Hand.Choose = rehearsal.Plan("c2")
	r.Pad.Push(ok, r.PIN("c2"), ok)
	runner, _ := k.NewRunner(env)
	if err := runner.Run(r.Ctx, inst); err == nil || !strings.Contains(err.Error(), "the process died") {
		t.Fatalf("first run: %v", err)
	}
	if !r.Cards["c2"].Terminated() || len(payloads[*cardreset.ResetRequested](r, inst.ID())) != 1 {
		t.Fatal("the card is not terminated with the reset asked for")
	}
	if f := r.Findings(); !strings.Contains(f, "the reset of card "+r.Serial("c2")+" has no recorded outcome") {
		t.Fatalf("health does not report the open reset:\n%s", f)
	}

	env = r.Env()
	env.Resumed = true
	r.Hand.Choose = rehearsal.Plan("c2")
	r.Pad.Push(ok, ok)
	runner, _ = k.NewRunner(env)
	if err := runner.Run(r.Ctx, inst); err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	if inst.Phase() != cardreset.PhaseCompleted {
		t.Fatalf("phase %s", inst.Phase())
	}
	done := payloads[*cardreset.CardReset](r, inst.ID())
	conf := payloads[*cardreset.Confirmed](r, inst.ID())
	if len(done) != 1 || done[0].Index != 2 || len(conf) != 1 || done[0].Lost != conf[0].Loss {
		t.Fatalf("card_reset %+v, confirmed %+v", done, conf)
	}
	if r.Cards["c2"].Terminated() {
		t.Fatal("card c2 is still terminated")
	}
	if f := r.Findings(); strings.Contains(f, "has no recorded outcome") {
		t.Fatalf("the reset is still open:\n%s", f)
	}
}
