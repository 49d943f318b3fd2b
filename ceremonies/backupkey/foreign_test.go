package backupkey_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/events"
)

// Issue 13, defect 1: a card holding a share of a key set this store never
// made (another installation's) was overwritten at generate without a
// prompt, and no event said what it held. Cancel must keep it; OK must be
// recorded with the set, the index and the KCV the card held.
func TestDefect1ForeignShareIsNotOverwrittenSilently(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	r.NewCard("alien")
	foreign := &backupkey.Record{Threshold: 3, Shares: 5, Index: 4, KCV: [3]byte{0xab, 0xcd, 0xef}, Share: make([]byte, 33)}
	copy(foreign.KeySetID[:], []byte("another-install!"))
	foreign.Share[32] = 4
	data, err := backupkey.EncodeRecord(foreign)
	if err != nil {
		t.Fatal(err)
	}
	r.WriteDO("alien", data)

	inst := r.StartGenerate("gen-foreign", q23)
	// alien: Cancel at "Overwrite foreign share?" keeps it; then alien
	// again, OK; then c2 and c3; read c2 and c3.
	entries := []pinpad.Entry{ok, ok, r.PIN("alien"), cancelKey, ok, r.PIN("alien"), ok}
	entries = append(entries, r.CardSteps("c2", "c3")...)
	entries = append(entries, ok)
	entries = append(entries, r.CardSteps("c2", "c3")...)
	r.Script([]string{"alien", "alien", "c2", "c3", "c2", "c3"}, entries...)
	r.run(inst)
	wantPhase(t, inst, backupkey.PhaseCompleted)

	if got := refusals(r, inst.ID()); !slices.Equal(got, []string{ceremonies.RefusedForeignKept}) {
		t.Fatalf("refusals %v, want [%s]", got, ceremonies.RefusedForeignKept)
	}
	conf := payloads[*events.OverwriteConfirmed](r, inst.ID())
	want := events.OverwriteConfirmed{Serial: r.Cards["alien"].Serial(), PreviousKeySetID: hex.EncodeToString(foreign.KeySetID[:]),
		PreviousIndex: 4, PreviousKCV: "abcdef", Foreign: true, By: "alice"}
	if len(conf) != 1 || *conf[0] != want {
		t.Fatalf("overwrite confirmations %+v, want one %+v", conf, want)
	}
	out := r.Out.String()
	for _, s := range []string{"Overwrite foreign", "never made", "cannot be restored"} {
		if !strings.Contains(out, s) {
			t.Errorf("the station never said %q:\n%s", s, out)
		}
	}
	// The card now holds share 1 of the new set.
	rec, err := backupkey.DecodeRecord(r.ReadDO("alien"))
	if err != nil || rec.KeySetHex() != r.KeySetOf(inst) || rec.Index != 1 {
		t.Fatalf("alien after the confirmed overwrite: %+v, %v", rec, err)
	}
}

// Issue 13, defect 6: a generate aborted after some writes left its set
// "pending" and its cards with no health finding, for good. The abort
// (Cancel on the PIN pad, or 'ceremony abort' recording the same event)
// voids the set, marks the written cards, and says which cards to reuse.
func TestDefect6AbortAfterWritesVoidsTheSet(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.StartGenerate("gen-abort", q23)
	// c1 written, then Cancel at "Insert 2. card".
	r.Script([]string{"c1", "c2"}, append(append([]pinpad.Entry{ok}, r.CardSteps("c1")...), cancelKey)...)
	r.run(inst)
	wantPhase(t, inst, backupkey.PhaseAborted)
	set, c1 := r.KeySetOf(inst), r.Cards["c1"].Serial()
	if ks, _ := r.Views.Inventory.KeySet(set); ks.Status != "void" {
		t.Fatalf("key set after the abort: %+v, want void", ks)
	}
	if c, _ := r.Views.Inventory.Card(c1); !c.Void {
		t.Fatalf("card c1 after the abort: %+v, want void", c)
	}
	if want := "These cards may be reused; the next generate overwrites them without confirmation: " + c1 + "."; !strings.Contains(r.Out.String(), want) {
		t.Fatalf("the station never said %q:\n%s", want, r.Out.String())
	}
	found := false
	for _, f := range r.Views.Findings(r.Eng, r.Clock.Now()) {
		found = found || (f.Subject == "card "+c1 && strings.Contains(f.What, "void key set "+set))
	}
	if !found {
		t.Fatalf("health has no finding for card %s of the void set", c1)
	}
	// The next generate reuses c1 without asking.
	r.Generate("gen-next", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})

	// An abort recorded by another process ('ceremony abort') after the
	// process that wrote d1 stopped folds the same.
	r.NewCard("d1")
	gen2 := r.StartGenerate("gen-abort-cli", q23)
	ctx := crashAt(r, "Insert 2. card", 1)
	r.Script([]string{"d1"}, append([]pinpad.Entry{ok}, r.CardSteps("d1")...)...)
	if err := r.runner(false).Run(ctx, gen2); err == nil {
		t.Fatal("the stopped run reported success")
	}
	r.Pad.OnShow = r.Hand.OnShow
	if err := gen2.Record(r.Ctx, events.SourceOperator, &events.CeremonyAborted{Reason: "operator left", By: "carol"}); err != nil {
		t.Fatal(err)
	}
	r.Restart()
	if c, _ := r.Views.Inventory.Card(r.Cards["d1"].Serial()); !c.Void {
		t.Fatalf("card d1 after a restart: %+v, want void", c)
	}
	if note := backupkey.AbortedNote(r.Views.Inventory, r.KeySetOf(gen2)); !strings.Contains(note, r.Cards["d1"].Serial()) {
		t.Fatalf("AbortedNote = %q, want it to name d1", note)
	}
}

// Issue 13, defect 7 (first message): a generate stopped before any share
// was written, then resumed, voided its set with "these cards may be
// overwritten without confirmation: " and an empty list.
func TestDefect7ResumeWithNoCardWrittenSaysSo(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.StartGenerate("gen-none", q23)
	ctx := crashAt(r, "Insert 1. card", 1)
	r.Script(nil, ok)
	if err := r.runner(false).Run(ctx, inst); err == nil {
		t.Fatal("the stopped run reported success")
	}
	r.Pad.OnShow = r.Hand.OnShow
	r.Restart()
	inst, err := r.Eng.Get("gen-none")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.runner(true).Run(r.Ctx, inst); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, inst, backupkey.PhaseVoid)
	out := r.Out.String()
	if !strings.Contains(out, "Start a new generate. No card was written.") || strings.Contains(out, "confirmation: ") {
		t.Fatalf("resume message:\n%s", out)
	}
}

// Issue 13, defect 2: 'resume --operator NAME' was ignored: the resumed
// events carried the first operator. The resumer is recorded in
// ceremony.resumed and on the abort, and the summary shows both.
func TestDefect2ResumerIsRecorded(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.StartGenerate("gen-res", q23)
	ctx := crashAt(r, "Insert 3. card", 1)
	r.Script([]string{"c1", "c2"}, append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2")...)...)
	if err := r.runner(false).Run(ctx, inst); err == nil {
		t.Fatal("the stopped run reported success")
	}
	r.Pad.OnShow = r.Hand.OnShow
	r.Restart()
	inst, err := r.Eng.Get("gen-res")
	if err != nil {
		t.Fatal(err)
	}
	run := r.runner(true)
	run.Operator = "bob"
	r.Script([]string{"c1"}, cancelKey) // Cancel at Read New Key
	if err := run.Run(r.Ctx, inst); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, inst, backupkey.PhaseAborted)
	res := payloads[*events.CeremonyResumed](r, inst.ID())
	ab := payloads[*events.CeremonyAborted](r, inst.ID())
	if len(res) != 1 || res[0].By != "bob" || len(ab) != 1 || ab[0].By != "bob" {
		t.Fatalf("resumed %+v, aborted %+v; want both by bob", res, ab)
	}
	k := backupkey.Generate()
	rows, err := k.Facts(inst)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, row := range rows {
		got[row.Name] = row.Value
	}
	if got["operator"] != "alice" || got["resumed by"] != "bob" || got["aborted by"] != "bob" {
		t.Fatalf("summary %v: want operator alice, resumed by bob, aborted by bob", got)
	}
}

// failReader hands out cards whose PIN verification fails with a
// hardware error, as the port names it.
type failReader struct{ ceremonies.CardReader }

type failCard struct{ ceremonies.Card }

func (f failReader) WaitCard(ctx context.Context) (ceremonies.Card, error) {
	card, err := f.CardReader.WaitCard(ctx)
	if err != nil {
		return nil, err
	}
	return failCard{card}, nil
}

func (c failCard) VerifyPIN(ceremonies.Slot, []byte) error {
	return fmt.Errorf("card %s: verify PW3: %w", c.Serial(), errors.New("transmit failed"))
}

// Issue 13, defect 7: a hardware error at PIN verification read "card X:
// verify PW3: card X: verify PW3: ...".
func TestDefect7NoDoubledErrorPrefix(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	inst := r.StartGenerate("gen-err", q23)
	run := r.runner(false)
	run.Station.Reader = failReader{r.Port}
	r.Script([]string{"c1"}, ok, ok, r.PIN("c1"))
	err := run.Run(r.Ctx, inst)
	want := "card " + r.Cards["c1"].Serial() + ": verify PW3: transmit failed"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// Issue 13, defect 9: a 3-of-5 generate killed after 3 writes never said
// that shares 4 and 5 are gone for good, and showed a plain "completed".
func TestDefect9LostSharesAreSaid(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2", "c3", "c4", "c5"} {
		r.NewCard(n)
	}
	inst := r.StartGenerate("gen-35", backupkey.Quorum{Threshold: 3, Shares: 5})
	ctx := crashAt(r, "Insert 4. card", 1)
	r.Script([]string{"c1", "c2", "c3"}, append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2", "c3")...)...)
	if err := r.runner(false).Run(ctx, inst); err == nil {
		t.Fatal("the stopped run reported success")
	}
	r.Pad.OnShow = r.Hand.OnShow
	r.Restart()
	inst, err := r.Eng.Get("gen-35")
	if err != nil {
		t.Fatal(err)
	}
	r.Reader.Remove()
	r.Script([]string{"c3", "c1", "c2"}, append([]pinpad.Entry{ok}, r.CardSteps("c3", "c1", "c2")...)...)
	if err := r.runner(true).Run(r.Ctx, inst); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, inst, backupkey.PhaseCompleted)
	if want := "WARNING: 3 of 5 shares were written, enough to rebuild the key (3 needed); shares 4, 5 are gone for good"; !strings.Contains(r.Out.String(), want) {
		t.Fatalf("the terminal never said %q:\n%s", want, r.Out.String())
	}
	rows, err := backupkey.Generate().Facts(inst)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, row := range rows {
		got[row.Name] = row.Value
	}
	if got[ceremonies.RowOutcome] != "completed with 3 of 5 cards" || !strings.HasPrefix(got["shares lost"], "4, 5 (gone for good") {
		t.Fatalf("summary %v", got)
	}
}
