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
		r.NewCard(n)
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
	gen := r.Generate("gen-1", q23, []string{"c1", "c2", "c3"}, []string{"c3", "c1"})
	set := r.KeySetOf(gen)
	_, kcv, loaded := r.HSM.BackupKey()
	ks, _ := r.Views.Inventory.KeySet(set)
	if !loaded || kcv != ks.KCV || ks.Status != inventory.KeySetLive {
		t.Fatalf("after generate: hsm loaded=%v kcv=%s; key set %+v", loaded, kcv, ks)
	}
	// A second HSM (a new cluster node) is loaded from cards 2 and 3.
	r.HSM = memhsm.New("node-b")
	load := r.StartLoad("load-1", "")
	r.Script([]string{"c2", "c3"}, append([]pinpad.Entry{ok}, r.CardSteps("c2", "c3")...)...)
	r.run(load)
	wantPhase(t, load, backupkey.PhaseCompleted)
	if _, kcvB, ok := r.HSM.BackupKey(); !ok || kcvB != ks.KCV {
		t.Fatalf("node B KCV %s, want %s", kcvB, ks.KCV)
	}
	// The manual's prompts appear, in order.
	var shown []string
	for _, l := range r.Pad.Lines() {
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
		r.NewCard(n)
	}
	gen := r.Generate("gen-35", backupkey.Quorum{Threshold: 3, Shares: 5}, names, []string{"c5", "c2", "c4"})
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
	inst := r.StartGenerate("gen-same", q23)
	entries := []pinpad.Entry{ok, ok, r.PIN("c1"), ok /* c1 again: refused before the PIN */}
	entries = append(entries, r.CardSteps("c2", "c3")...)
	entries = append(entries, ok)
	entries = append(entries, r.CardSteps("c3", "c2")...)
	r.Script([]string{"c1", "c1", "c2", "c3", "c3", "c2"}, entries...)
	r.run(inst)
	wantPhase(t, inst, backupkey.PhaseCompleted)
	if got := refusals(r, inst.ID()); !slices.Equal(got, []string{ceremonies.RefusedSameCard}) {
		t.Fatalf("refusals %v", got)
	}
}

func TestLoadRefusesBadCardsAtInsertion(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	gen := r.Generate("gen-a", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})
	setA := r.KeySetOf(gen)
	// A second live set on other cards.
	for _, n := range []string{"d1", "d2", "d3"} {
		r.NewCard(n)
	}
	r.HSM = memhsm.New("hsm-b")
	r.Generate("gen-b", q23, []string{"d1", "d2", "d3"}, []string{"d1", "d2"})

	// copy: another card holding share 1 of set A (a one-to-one copy).
	r.NewCard("copy1")
	r.WriteDO("copy1", r.ReadDO("c1"))
	// corrupt: share 2 with one share byte changed, record re-encoded so its
	// checksum is fine: only the commitment can catch it.
	r.NewCard("bad2")
	rec, err := backupkey.DecodeRecord(r.ReadDO("c2"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Share[0] ^= 0x01
	forged, _ := backupkey.EncodeRecord(rec)
	r.WriteDO("bad2", forged)
	// torn: a truncated record.
	r.NewCard("torn3")
	r.WriteDO("torn3", r.ReadDO("c3")[:20])
	// empty.
	r.NewCard("empty")
	// foreign to the installation: a record of a set never generated here.
	r.NewCard("alien")
	rec.KeySetID[0] ^= 0xFF
	alien, _ := backupkey.EncodeRecord(rec)
	r.WriteDO("alien", alien)

	r.HSM = memhsm.New("hsm-c")
	load := r.StartLoad("load-a", setA)
	plan := []string{"c1", "copy1", "d1", "bad2", "torn3", "empty", "alien", "c1", "c3"}
	entries := []pinpad.Entry{ok}
	entries = append(entries, r.CardSteps(plan[:7]...)...)
	entries = append(entries, ok) // c1 again: refused before its PIN
	entries = append(entries, r.CardSteps("c3")...)
	r.Script(plan, entries...)
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
	gen := r.Generate("gen-1", q23, []string{"c1", "c2", "c3"}, []string{"c3", "c2"})
	r.HSM = memhsm.New("hsm-2")
	load := r.StartLoad("load-blk", r.KeySetOf(gen))
	wrong := pinEntry("00000000")
	entries := []pinpad.Entry{ok, ok, wrong, wrong, wrong /* c1 now blocked */}
	entries = append(entries, r.CardSteps("c1", "c2", "c3")...) // c1 again: blocked, refused without a PIN entry
	r.Script([]string{"c1", "c1", "c2", "c3"}, entries[:5]...)
	r.Pad.Push(ok, ok, r.PIN("c2"), ok, r.PIN("c3"))
	r.run(load)
	wantPhase(t, load, backupkey.PhaseCompleted)
	if got := refusals(r, load.ID()); !slices.Equal(got, []string{ceremonies.RefusedBlocked, ceremonies.RefusedBlocked}) {
		t.Fatalf("refusals %v", got)
	}
	var tries []int
	var lastTry []bool
	for _, p := range payloads[*events.PINRetriesRead](r, load.ID()) {
		if p.Serial == r.Cards["c1"].Serial() {
			tries, lastTry = append(tries, p.TriesLeft), append(lastTry, p.LastTry)
		}
	}
	if !slices.Equal(tries, []int{3, 2, 1, 0}) || !slices.Equal(lastTry, []bool{false, false, true, false}) {
		t.Fatalf("retry counters read for c1: %v last-try %v", tries, lastTry)
	}
	found := false
	for _, l := range r.Pad.Lines() {
		found = found || (l[0] == "Enter PIN" && l[1] == "LAST TRY")
	}
	if !found {
		t.Fatal("the last try was never announced on the display")
	}
	if c, _ := r.Views.Inventory.Card(r.Cards["c1"].Serial()); !c.Blocked["PW3"] {
		t.Fatalf("card registry does not show c1 blocked: %+v", c)
	}
}

func TestDefaultPINIsFlagged(t *testing.T) {
	r := newRig(t)
	r.NewCardPIN("c1", ceremonies.DefaultPIN)
	r.NewCard("c2")
	r.NewCard("c3")
	r.Generate("gen-def", q23, []string{"c1", "c2", "c3"}, []string{"c2", "c3"})
	c1, _ := r.Views.Inventory.Card(r.Cards["c1"].Serial())
	c2, _ := r.Views.Inventory.Card(r.Cards["c2"].Serial())
	if !c1.DefaultPIN["PW3"] || c2.DefaultPIN["PW3"] {
		t.Fatalf("default-PIN flags: c1 %v, c2 %v", c1.DefaultPIN, c2.DefaultPIN)
	}
}

func TestOverwritingALiveShareNeedsConfirmation(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	genA := r.Generate("gen-a", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})
	before := r.ReadDO("c1")
	r.NewCard("n2")
	r.NewCard("n3")
	r.NewCard("n4")
	r.HSM = memhsm.New("hsm-b")
	genB := r.StartGenerate("gen-b", q23)
	// c1 holds share 1 of live set A: Cancel keeps it, then n4 is used.
	entries := []pinpad.Entry{ok, ok, r.PIN("c1"), cancelKey}
	entries = append(entries, r.CardSteps("n4", "n2", "n3")...)
	entries = append(entries, ok)
	entries = append(entries, r.CardSteps("n2", "n3")...)
	r.Script([]string{"c1", "n4", "n2", "n3", "n2", "n3"}, entries...)
	r.run(genB)
	wantPhase(t, genB, backupkey.PhaseCompleted)
	if got := refusals(r, genB.ID()); !slices.Equal(got, []string{ceremonies.RefusedLiveKept}) {
		t.Fatalf("refusals %v", got)
	}
	if !bytes.Equal(before, r.ReadDO("c1")) {
		t.Fatal("the live share on c1 changed although the operator refused")
	}
	// Now confirm: c1 is overwritten and the confirmation is recorded.
	r.HSM = memhsm.New("hsm-c")
	genC := r.StartGenerate("gen-c", q23)
	entries = []pinpad.Entry{ok, ok, r.PIN("c1"), ok, ok, r.PIN("c2"), ok, ok, r.PIN("c3"), ok, ok}
	entries = append(entries, r.CardSteps("c3", "c1")...)
	r.Script([]string{"c1", "c2", "c3", "c3", "c1"}, entries...)
	r.run(genC)
	wantPhase(t, genC, backupkey.PhaseCompleted)
	conf := payloads[*events.OverwriteConfirmed](r, genC.ID())
	if len(conf) != 3 || conf[0].PreviousKeySetID != r.KeySetOf(genA) || !conf[0].Live {
		t.Fatalf("overwrite confirmations %+v", conf)
	}
}

func TestTimeoutPausesThenRetryCompletes(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.StartGenerate("gen-to", q23)
	entries := []pinpad.Entry{ok, stall /* nobody presses OK at Insert 1. card */, ok /* retry */}
	entries = append(entries, r.CardSteps("c1", "c2", "c3")...)
	entries = append(entries, ok)
	entries = append(entries, r.CardSteps("c2", "c1")...)
	r.Script([]string{"c1", "c1", "c2", "c3", "c2", "c1"}, entries...)
	// The step's deadline is armed before its prompt shows; once the first
	// "Insert 1. card" shows, the clock moves to that deadline. No other
	// step can time out: the clock moves no further.
	stalled := make(chan struct{})
	var once sync.Once
	show := r.Pad.OnShow
	r.Pad.OnShow = func(l1, l2 string) {
		show(l1, l2)
		if l1 == "Insert 1. card" {
			once.Do(func() { close(stalled) })
		}
	}
	run := r.runner(false)
	done := make(chan error, 1)
	go func() { done <- run.Run(r.Ctx, inst) }()
	select {
	case <-stalled:
	case err := <-done:
		t.Fatalf("the run ended before Insert 1. card: %v", err)
	}
	step, deadline := inst.OpenStep()
	if step != "insert card 1" || !deadline.Equal(r.Clock.Now().Add(run.Station.Timeout())) {
		t.Fatalf("open step %q until %s at Insert 1. card, want insert card 1 until %s", step, deadline, r.Clock.Now().Add(run.Station.Timeout()))
	}
	r.Clock.Advance(run.Station.Timeout())
	// r.Ctx bounds a hang.
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantPhase(t, inst, backupkey.PhaseCompleted)
	types := r.Types(inst.ID())
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
			return append(append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2", "c3")...), cancelKey)
		}, []string{"c1", "c2", "c3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			threeCards(r)
			inst := r.StartGenerate("gen-cancel", q23)
			r.Script(tc.plan, tc.entries(r)...)
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
	r.Cards["c2"].TearNextWrite(10)
	inst := r.StartGenerate("gen-torn", q23)
	entries := []pinpad.Entry{ok}
	entries = append(entries, r.CardSteps("c1", "c2", "c2", "c3")...)
	entries = append(entries, ok)
	entries = append(entries, r.CardSteps("c2", "c3")...)
	r.Script([]string{"c1", "c2", "c2", "c3", "c2", "c3"}, entries...)
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
	ctx, cancel := context.WithCancel(r.Ctx)
	seen := 0
	prev := r.Pad.OnShow
	r.Pad.OnShow = func(l1, l2 string) {
		if l1 == line1 {
			seen++
			if seen == nth {
				cancel()
				return
			}
		}
		prev(l1, l2)
	}
	r.T.Cleanup(cancel)
	return ctx
}

func TestGenerateStoppedBeforeKSharesVoidsTheSet(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.StartGenerate("gen-void", q23)
	ctx := crashAt(r, "Insert 2. card", 1)
	r.Script([]string{"c1"}, append([]pinpad.Entry{ok}, r.CardSteps("c1")...)...)
	if err := r.runner(false).Run(ctx, inst); err == nil {
		t.Fatal("the crashed run reported success")
	}
	r.Pad.OnShow = r.Hand.OnShow
	r.Restart()
	inst, err := r.Eng.Get("gen-void")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.runner(true).Run(r.Ctx, inst); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, inst, backupkey.PhaseVoid)
	c1, _ := r.Views.Inventory.Card(r.Cards["c1"].Serial())
	if !c1.Void {
		t.Fatalf("c1 not marked as holding a void set: %+v", c1)
	}
	// The next generate overwrites c1 without asking (no Overwrite prompt).
	r.Reader.Remove()
	r.Generate("gen-next", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})
	for _, l := range r.Pad.Lines() {
		if l[0] == "Overwrite live" {
			t.Fatal("the operator was asked to confirm overwriting a void share")
		}
	}
	if c1, _ := r.Views.Inventory.Card(r.Cards["c1"].Serial()); c1.Void {
		t.Fatal("c1 still marked void after a new share was written")
	}
}

func TestGenerateStoppedWithKSharesFinishesFromTheCards(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.StartGenerate("gen-k", q23)
	ctx := crashAt(r, "Insert 3. card", 1)
	r.Script([]string{"c1", "c2"}, append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2")...)...)
	if err := r.runner(false).Run(ctx, inst); err == nil {
		t.Fatal("the crashed run reported success")
	}
	r.Pad.OnShow = r.Hand.OnShow
	r.Restart()
	inst, err := r.Eng.Get("gen-k")
	if err != nil {
		t.Fatal(err)
	}
	r.Reader.Remove()
	entries := append([]pinpad.Entry{ok}, r.CardSteps("c2", "c1")...)
	r.Script([]string{"c2", "c1"}, entries...)
	if err := r.runner(true).Run(r.Ctx, inst); err != nil {
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
	gen := r.Generate("gen-1", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})
	r.HSM = memhsm.New("hsm-2")
	load := r.StartLoad("load-x", r.KeySetOf(gen))
	ctx := crashAt(r, "Insert 2. card", 1)
	r.Script([]string{"c3"}, append([]pinpad.Entry{ok}, r.CardSteps("c3")...)...)
	if err := r.runner(false).Run(ctx, load); err == nil {
		t.Fatal("the crashed run reported success")
	}
	r.Pad.OnShow = r.Hand.OnShow
	r.Restart()
	load, _ = r.Eng.Get("load-x")
	r.Reader.Remove()
	r.Script([]string{"c3", "c1"}, r.CardSteps("c3", "c1")...)
	if err := r.runner(true).Run(r.Ctx, load); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, load, backupkey.PhaseCompleted)
	if d := payloads[*events.SharesDiscarded](r, load.ID()); len(d) != 1 {
		t.Fatalf("shares_discarded %+v", d)
	}
	// State after the run equals a replay from the store alone.
	replayed, err := r.Eng.Replay(r.Ctx, load.ID())
	if err != nil {
		t.Fatal(err)
	}
	if replayed.Phase() != load.Phase() || replayed.Position() != load.Position() {
		t.Fatalf("replay %s/%d, live %s/%d", replayed.Phase(), replayed.Position(), load.Phase(), load.Position())
	}
}
