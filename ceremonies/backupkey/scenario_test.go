package backupkey_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/memhsm"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/events"
)

var q23 = backupkey.Quorum{Threshold: 2, Shares: 3}

func threeCards(r *rig) {
	for _, n := range []string{"c1", "c2", "c3"} {
		r.newCard(n)
	}
}

// refusals returns the refusal codes recorded in a ceremony.
func refusals(r *rig, id string) []string {
	var out []string
	for _, p := range payloads[*events.CardRefused](r, id) {
		out = append(out, p.Code)
	}
	return out
}

func TestGenerateThenLoadInAnyOrder(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	gen := r.generate("gen-1", q23, []string{"c1", "c2", "c3"}, []string{"c3", "c1"})
	set := r.keySetOf(gen)
	_, kcv, loaded := r.hsm.BackupKey()
	ks, _ := r.views.Inventory.KeySet(set)
	if !loaded || kcv != ks.KCV || ks.Status != inventory.KeySetLive {
		t.Fatalf("after generate: hsm loaded=%v kcv=%s; key set %+v", loaded, kcv, ks)
	}
	// A second HSM (a new cluster node) is loaded from cards 2 and 3.
	r.hsm = memhsm.New("node-b")
	load := r.startLoad("load-1", "")
	r.script([]string{"c2", "c3"}, append([]pinpad.Entry{ok}, r.cardSteps("c2", "c3")...)...)
	r.run(load)
	wantPhase(t, load, backupkey.PhaseCompleted)
	if _, kcvB, ok := r.hsm.BackupKey(); !ok || kcvB != ks.KCV {
		t.Fatalf("node B KCV %s, want %s", kcvB, ks.KCV)
	}
	// The manual's prompts appear, in order.
	var shown []string
	for _, l := range r.pad.Lines() {
		shown = append(shown, l[0])
	}
	for _, want := range []string{"Write New Key", "Insert 1. card", "Enter PIN", "Insert 3. card", "Read New Key", "Read Key"} {
		if !slices.Contains(shown, want) {
			t.Errorf("display never showed %q", want)
		}
	}
}

func TestGenerate3of5ReadsAnyThree(t *testing.T) {
	r := newRig(t)
	names := []string{"c1", "c2", "c3", "c4", "c5"}
	for _, n := range names {
		r.newCard(n)
	}
	gen := r.generate("gen-35", backupkey.Quorum{Threshold: 3, Shares: 5}, names, []string{"c5", "c2", "c4"})
	acc := payloads[*events.ShareAccepted](r, gen.ID())
	if len(acc) != 3 || acc[2].Have != 3 || acc[2].Need != 3 {
		t.Fatalf("share_accepted events: %+v", acc)
	}
	rec := payloads[*events.KeyReconstructed](r, gen.ID())
	if len(rec) != 1 || !slices.Equal(rec[0].Indexes, []int{2, 4, 5}) {
		t.Fatalf("key_reconstructed: %+v", rec)
	}
}

func TestSameCardRefusedForSecondShare(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.startGenerate("gen-same", q23)
	entries := []pinpad.Entry{ok, ok, r.pin("c1"), ok /* c1 again: refused before the PIN */}
	entries = append(entries, r.cardSteps("c2", "c3")...)
	entries = append(entries, ok)
	entries = append(entries, r.cardSteps("c3", "c2")...)
	r.script([]string{"c1", "c1", "c2", "c3", "c3", "c2"}, entries...)
	r.run(inst)
	wantPhase(t, inst, backupkey.PhaseCompleted)
	if got := refusals(r, inst.ID()); !slices.Equal(got, []string{ceremonies.RefusedSameCard}) {
		t.Fatalf("refusals %v", got)
	}
}

func TestLoadRefusesBadCardsAtInsertion(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	gen := r.generate("gen-a", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})
	setA := r.keySetOf(gen)
	// A second live set on other cards.
	for _, n := range []string{"d1", "d2", "d3"} {
		r.newCard(n)
	}
	r.hsm = memhsm.New("hsm-b")
	r.generate("gen-b", q23, []string{"d1", "d2", "d3"}, []string{"d1", "d2"})

	// copy: another card holding share 1 of set A (a one-to-one copy).
	r.newCard("copy1")
	r.writeDO("copy1", r.readDO("c1"))
	// corrupt: share 2 with one share byte changed, record re-encoded so its
	// checksum is fine: only the commitment can catch it.
	r.newCard("bad2")
	rec, err := backupkey.DecodeRecord(r.readDO("c2"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Share[0] ^= 0x01
	forged, _ := backupkey.EncodeRecord(rec)
	r.writeDO("bad2", forged)
	// torn: a truncated record.
	r.newCard("torn3")
	r.writeDO("torn3", r.readDO("c3")[:20])
	// empty.
	r.newCard("empty")
	// foreign to the installation: a record of a set never generated here.
	r.newCard("alien")
	rec.KeySetID[0] ^= 0xFF
	alien, _ := backupkey.EncodeRecord(rec)
	r.writeDO("alien", alien)

	r.hsm = memhsm.New("hsm-c")
	load := r.startLoad("load-a", setA)
	plan := []string{"c1", "copy1", "d1", "bad2", "torn3", "empty", "alien", "c1", "c3"}
	entries := []pinpad.Entry{ok}
	entries = append(entries, r.cardSteps(plan[:7]...)...)
	entries = append(entries, ok) // c1 again: refused before its PIN
	entries = append(entries, r.cardSteps("c3")...)
	r.script(plan, entries...)
	r.run(load)
	wantPhase(t, load, backupkey.PhaseCompleted)
	want := []string{ceremonies.RefusedDuplicate, ceremonies.RefusedForeign, ceremonies.RefusedCorrupt, ceremonies.RefusedCorrupt,
		ceremonies.RefusedEmpty, ceremonies.RefusedForeign, ceremonies.RefusedSameCard}
	if got := refusals(r, load.ID()); !slices.Equal(got, want) {
		t.Fatalf("refusals %v, want %v", got, want)
	}
	msgs := payloads[*events.CardRefused](r, load.ID())
	for _, m := range msgs {
		if m.Message == "" || !strings.Contains(m.Message, m.Serial) {
			t.Errorf("refusal %q does not name the card: %q", m.Code, m.Message)
		}
	}
	if !strings.Contains(msgs[0].Message, "count once") {
		t.Errorf("duplicate refusal does not say copies count once: %q", msgs[0].Message)
	}
}

func TestWrongPINsBlockACardAndAnotherIsUsed(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	gen := r.generate("gen-1", q23, []string{"c1", "c2", "c3"}, []string{"c3", "c2"})
	r.hsm = memhsm.New("hsm-2")
	load := r.startLoad("load-blk", r.keySetOf(gen))
	wrong := pinEntry("00000000")
	entries := []pinpad.Entry{ok, ok, wrong, wrong, wrong /* c1 now blocked */}
	entries = append(entries, r.cardSteps("c1", "c2", "c3")...) // c1 again: blocked, refused without a PIN entry
	r.script([]string{"c1", "c1", "c2", "c3"}, entries[:5]...)
	r.pad.Push(ok, ok, r.pin("c2"), ok, r.pin("c3"))
	r.run(load)
	wantPhase(t, load, backupkey.PhaseCompleted)
	if got := refusals(r, load.ID()); !slices.Equal(got, []string{ceremonies.RefusedBlocked, ceremonies.RefusedBlocked}) {
		t.Fatalf("refusals %v", got)
	}
	var tries []int
	var lastTry []bool
	for _, p := range payloads[*events.PINRetriesRead](r, load.ID()) {
		if p.Serial == r.cards["c1"].Serial() {
			tries, lastTry = append(tries, p.TriesLeft), append(lastTry, p.LastTry)
		}
	}
	if !slices.Equal(tries, []int{3, 2, 1, 0}) || !slices.Equal(lastTry, []bool{false, false, true, false}) {
		t.Fatalf("retry counters read for c1: %v last-try %v", tries, lastTry)
	}
	found := false
	for _, l := range r.pad.Lines() {
		found = found || (l[0] == "Enter PIN" && l[1] == "LAST TRY")
	}
	if !found {
		t.Fatal("the last try was never announced on the display")
	}
	if c, _ := r.views.Inventory.Card(r.cards["c1"].Serial()); !c.Blocked["PW3"] {
		t.Fatalf("card registry does not show c1 blocked: %+v", c)
	}
}

func TestDefaultPINIsFlagged(t *testing.T) {
	r := newRig(t)
	r.newCardPIN("c1", ceremonies.DefaultPIN)
	r.newCard("c2")
	r.newCard("c3")
	r.generate("gen-def", q23, []string{"c1", "c2", "c3"}, []string{"c2", "c3"})
	c1, _ := r.views.Inventory.Card(r.cards["c1"].Serial())
	c2, _ := r.views.Inventory.Card(r.cards["c2"].Serial())
	if !c1.DefaultPIN["PW3"] || c2.DefaultPIN["PW3"] {
		t.Fatalf("default-PIN flags: c1 %v, c2 %v", c1.DefaultPIN, c2.DefaultPIN)
	}
}

func TestOverwritingALiveShareNeedsConfirmation(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	genA := r.generate("gen-a", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})
	before := r.readDO("c1")
	r.newCard("n2")
	r.newCard("n3")
	r.newCard("n4")
	r.hsm = memhsm.New("hsm-b")
	genB := r.startGenerate("gen-b", q23)
	// c1 holds share 1 of live set A: Cancel keeps it, then n4 is used.
	entries := []pinpad.Entry{ok, ok, r.pin("c1"), cancelKey}
	entries = append(entries, r.cardSteps("n4", "n2", "n3")...)
	entries = append(entries, ok)
	entries = append(entries, r.cardSteps("n2", "n3")...)
	r.script([]string{"c1", "n4", "n2", "n3", "n2", "n3"}, entries...)
	r.run(genB)
	wantPhase(t, genB, backupkey.PhaseCompleted)
	if got := refusals(r, genB.ID()); !slices.Equal(got, []string{ceremonies.RefusedLiveKept}) {
		t.Fatalf("refusals %v", got)
	}
	if !bytes.Equal(before, r.readDO("c1")) {
		t.Fatal("the live share on c1 changed although the operator refused")
	}
	// Now confirm: c1 is overwritten and the confirmation is recorded.
	r.hsm = memhsm.New("hsm-c")
	genC := r.startGenerate("gen-c", q23)
	entries = []pinpad.Entry{ok, ok, r.pin("c1"), ok, ok, r.pin("c2"), ok, ok, r.pin("c3"), ok, ok}
	entries = append(entries, r.cardSteps("c3", "c1")...)
	r.script([]string{"c1", "c2", "c3", "c3", "c1"}, entries...)
	r.run(genC)
	wantPhase(t, genC, backupkey.PhaseCompleted)
	conf := payloads[*events.OverwriteConfirmed](r, genC.ID())
	if len(conf) != 3 || conf[0].PreviousKeySetID != r.keySetOf(genA) || !conf[0].Live {
		t.Fatalf("overwrite confirmations %+v", conf)
	}
}

func TestTimeoutPausesThenRetryCompletes(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.startGenerate("gen-to", q23)
	entries := []pinpad.Entry{ok, stall /* nobody presses OK at Insert 1. card */, ok /* retry */}
	entries = append(entries, r.cardSteps("c1", "c2", "c3")...)
	entries = append(entries, ok)
	entries = append(entries, r.cardSteps("c2", "c1")...)
	r.script([]string{"c1", "c1", "c2", "c3", "c2", "c1"}, entries...)
	// The step's deadline is armed before its prompt shows; once the first
	// "Insert 1. card" shows, the clock moves to that deadline. No other
	// step can time out: the clock moves no further.
	stalled := make(chan struct{})
	var once sync.Once
	show := r.pad.OnShow
	r.pad.OnShow = func(l1, l2 string) {
		show(l1, l2)
		if l1 == "Insert 1. card" {
			once.Do(func() { close(stalled) })
		}
	}
	run := r.runner(false)
	done := make(chan error, 1)
	go func() { done <- run.Run(r.ctx, inst) }()
	select {
	case <-stalled:
	case err := <-done:
		t.Fatalf("the run ended before Insert 1. card: %v", err)
	}
	step, deadline := inst.OpenStep()
	if step != "insert card 1" || !deadline.Equal(r.clock.Now().Add(run.Station.Timeout())) {
		t.Fatalf("open step %q until %s at Insert 1. card, want insert card 1 until %s", step, deadline, r.clock.Now().Add(run.Station.Timeout()))
	}
	r.clock.Advance(run.Station.Timeout())
	// r.ctx bounds a hang.
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantPhase(t, inst, backupkey.PhaseCompleted)
	types := r.types(inst.ID())
	i := slices.Index(types, "step.timed_out")
	if i < 0 || types[i+1] != "step.retried" {
		t.Fatalf("no timeout followed by a retry in %v", types)
	}
	to := payloads[*events.StepTimedOut](r, inst.ID())
	if len(to) != 1 || to[0].Step != "insert card 1" || !to[0].Deadline.Equal(deadline) {
		t.Fatalf("step.timed_out events %+v, want one, of insert card 1 at %s", to, deadline)
	}
}

func TestCancelAbortsAtEveryPrompt(t *testing.T) {
	cases := []struct {
		name    string
		entries func(r *rig) []pinpad.Entry
		plan    []string
	}{
		{"at Write New Key", func(r *rig) []pinpad.Entry { return []pinpad.Entry{cancelKey} }, nil},
		{"at Insert 1. card", func(r *rig) []pinpad.Entry { return []pinpad.Entry{ok, cancelKey} }, []string{"c1"}},
		{"at Enter PIN", func(r *rig) []pinpad.Entry { return []pinpad.Entry{ok, ok, cancelKey} }, []string{"c1"}},
		{"at Read New Key", func(r *rig) []pinpad.Entry {
			return append(append([]pinpad.Entry{ok}, r.cardSteps("c1", "c2", "c3")...), cancelKey)
		}, []string{"c1", "c2", "c3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			threeCards(r)
			inst := r.startGenerate("gen-cancel", q23)
			r.script(tc.plan, tc.entries(r)...)
			r.run(inst)
			wantPhase(t, inst, backupkey.PhaseAborted)
			ab := payloads[*events.CeremonyAborted](r, inst.ID())
			if len(ab) != 1 || ab[0].By != "alice" || ab[0].Reason == "" {
				t.Fatalf("aborted events %+v", ab)
			}
		})
	}
}

func TestTornWriteRefusesTheCardAndItCanBeRewritten(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	r.cards["c2"].TearNextWrite(10)
	inst := r.startGenerate("gen-torn", q23)
	entries := []pinpad.Entry{ok}
	entries = append(entries, r.cardSteps("c1", "c2", "c2", "c3")...)
	entries = append(entries, ok)
	entries = append(entries, r.cardSteps("c2", "c3")...)
	r.script([]string{"c1", "c2", "c2", "c3", "c2", "c3"}, entries...)
	r.run(inst)
	wantPhase(t, inst, backupkey.PhaseCompleted)
	failed := payloads[*events.ShareWriteFailed](r, inst.ID())
	if len(failed) != 1 || failed[0].Index != 2 || !strings.Contains(failed[0].Error, "removed") {
		t.Fatalf("share_write_failed %+v", failed)
	}
	if got := refusals(r, inst.ID()); !slices.Equal(got, []string{ceremonies.RefusedWriteFailed}) {
		t.Fatalf("refusals %v", got)
	}
}

// crashAt cancels the runner's context when the display shows line1 for
// the nth time: the process "dies" there with its memory.
func crashAt(r *rig, line1 string, nth int) context.Context {
	ctx, cancel := context.WithCancel(r.ctx)
	seen := 0
	prev := r.pad.OnShow
	r.pad.OnShow = func(l1, l2 string) {
		if l1 == line1 {
			seen++
			if seen == nth {
				cancel()
				return
			}
		}
		prev(l1, l2)
	}
	r.t.Cleanup(cancel)
	return ctx
}

func TestGenerateStoppedBeforeKSharesVoidsTheSet(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.startGenerate("gen-void", q23)
	ctx := crashAt(r, "Insert 2. card", 1)
	r.script([]string{"c1"}, append([]pinpad.Entry{ok}, r.cardSteps("c1")...)...)
	if err := r.runner(false).Run(ctx, inst); err == nil {
		t.Fatal("the crashed run reported success")
	}
	r.pad.OnShow = r.hand.OnShow
	r.restart()
	inst, err := r.eng.Get("gen-void")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.runner(true).Run(r.ctx, inst); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, inst, backupkey.PhaseVoid)
	c1, _ := r.views.Inventory.Card(r.cards["c1"].Serial())
	if !c1.Void {
		t.Fatalf("c1 not marked as holding a void set: %+v", c1)
	}
	// The next generate overwrites c1 without asking (no Overwrite prompt).
	r.reader.Remove()
	r.generate("gen-next", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})
	for _, l := range r.pad.Lines() {
		if l[0] == "Overwrite live" {
			t.Fatal("the operator was asked to confirm overwriting a void share")
		}
	}
	if c1, _ := r.views.Inventory.Card(r.cards["c1"].Serial()); c1.Void {
		t.Fatal("c1 still marked void after a new share was written")
	}
}

func TestGenerateStoppedWithKSharesFinishesFromTheCards(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.startGenerate("gen-k", q23)
	ctx := crashAt(r, "Insert 3. card", 1)
	r.script([]string{"c1", "c2"}, append([]pinpad.Entry{ok}, r.cardSteps("c1", "c2")...)...)
	if err := r.runner(false).Run(ctx, inst); err == nil {
		t.Fatal("the crashed run reported success")
	}
	r.pad.OnShow = r.hand.OnShow
	r.restart()
	inst, err := r.eng.Get("gen-k")
	if err != nil {
		t.Fatal(err)
	}
	r.reader.Remove()
	entries := append([]pinpad.Entry{ok}, r.cardSteps("c2", "c1")...)
	r.script([]string{"c2", "c1"}, entries...)
	if err := r.runner(true).Run(r.ctx, inst); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, inst, backupkey.PhaseCompleted)
	res := payloads[*events.CeremonyResumed](r, inst.ID())
	lost := payloads[*events.SecretsLost](r, inst.ID())
	if len(res) != 1 || len(lost) != 1 || !strings.Contains(lost[0].Consequence, "2 of 3") {
		t.Fatalf("resumed %+v, secrets lost %+v", res, lost)
	}
}

func TestLoadStoppedMidwayRereadsCards(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	gen := r.generate("gen-1", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})
	r.hsm = memhsm.New("hsm-2")
	load := r.startLoad("load-x", r.keySetOf(gen))
	ctx := crashAt(r, "Insert 2. card", 1)
	r.script([]string{"c3"}, append([]pinpad.Entry{ok}, r.cardSteps("c3")...)...)
	if err := r.runner(false).Run(ctx, load); err == nil {
		t.Fatal("the crashed run reported success")
	}
	r.pad.OnShow = r.hand.OnShow
	r.restart()
	load, _ = r.eng.Get("load-x")
	r.reader.Remove()
	r.script([]string{"c3", "c1"}, r.cardSteps("c3", "c1")...)
	if err := r.runner(true).Run(r.ctx, load); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, load, backupkey.PhaseCompleted)
	if d := payloads[*events.SharesDiscarded](r, load.ID()); len(d) != 1 {
		t.Fatalf("shares_discarded %+v", d)
	}
	// State after the run equals a replay from the store alone.
	replayed, err := r.eng.Replay(r.ctx, load.ID())
	if err != nil {
		t.Fatal(err)
	}
	if replayed.Phase() != load.Phase() || replayed.Position() != load.Position() {
		t.Fatalf("replay %s/%d, live %s/%d", replayed.Phase(), replayed.Position(), load.Phase(), load.Position())
	}
}
