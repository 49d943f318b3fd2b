package ceremonytest

import (
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// The Backup Key ceremonies most kinds' tests need first: a key set on
// cards to check, copy or reset.

// StartGenerate starts a generate of quorum q, run by alice.
func (r *Rig) StartGenerate(id string, q backupkey.Quorum) *engine.Instance {
	r.T.Helper()
	inst, err := r.Eng.Start(r.Ctx, backupkey.KindGenerate, id, events.SourceOperator, &events.GenerateStarted{
		Operator: "alice", Threshold: q.Threshold, Shares: q.Shares, Reader: r.Port.Name(), HSM: r.HSM.Name()})
	if err != nil {
		r.T.Fatal(err)
	}
	return inst
}

// StartLoad starts a load of key set keySet, run by bob.
func (r *Rig) StartLoad(id, keySet string) *engine.Instance {
	r.T.Helper()
	inst, err := r.Eng.Start(r.Ctx, backupkey.KindLoad, id, events.SourceOperator, &events.LoadStarted{
		Operator: "bob", KeySetID: keySet, Reader: r.Port.Name(), HSM: r.HSM.Name()})
	if err != nil {
		r.T.Fatal(err)
	}
	return inst
}

// GenerateScript is the hand's plan and the pad's entries of a generate
// that writes the cards write, then reads back the cards read.
func (r *Rig) GenerateScript(write, read []string) ([]string, []pinpad.Entry) {
	plan := append(append([]string(nil), write...), read...)
	entries := append(append([]pinpad.Entry{OK}, r.CardSteps(write...)...), append([]pinpad.Entry{OK}, r.CardSteps(read...)...)...)
	return plan, entries
}

// Generate runs a whole generate ceremony: write every card, read back.
func (r *Rig) Generate(id string, q backupkey.Quorum, write, read []string) *engine.Instance {
	r.T.Helper()
	inst := r.StartGenerate(id, q)
	plan, entries := r.GenerateScript(write, read)
	r.Script(plan, entries...)
	if err := (&backupkey.Runner{Env: r.Env()}).Run(r.Ctx, inst); err != nil {
		r.T.Fatalf("run %s: %v", inst.ID(), err)
	}
	if err := r.Hand.Err(); err != nil {
		r.T.Fatalf("hand: %v", err)
	}
	WantPhase(r.T, inst, backupkey.PhaseCompleted)
	return inst
}

// KeySet writes a 2-of-3 key set to cards c1, c2 and c3 (made first),
// reads back c1 and c2, and returns the set's id.
func (r *Rig) KeySet() string {
	r.T.Helper()
	c := []string{"c1", "c2", "c3"}
	return r.KeySetOf(r.Generate("gen", backupkey.Quorum{Threshold: 2, Shares: 3}, c, c[:2]))
}

// KeySetOf is the key set a generate or a load is about.
func (r *Rig) KeySetOf(inst *engine.Instance) string {
	var id string
	inst.View(func(s engine.State) { id = s.(*backupkey.State).KeySetID })
	return id
}
