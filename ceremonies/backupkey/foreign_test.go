package backupkey_test

import (
	"encoding/hex"
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
	r.newCard("alien")
	foreign := &backupkey.Record{Threshold: 3, Shares: 5, Index: 4, KCV: [3]byte{0xab, 0xcd, 0xef}, Share: make([]byte, 33)}
	copy(foreign.KeySetID[:], []byte("another-install!"))
	foreign.Share[32] = 4
	data, err := backupkey.EncodeRecord(foreign)
	if err != nil {
		t.Fatal(err)
	}
	r.writeDO("alien", data)

	inst := r.startGenerate("gen-foreign", q23)
	// alien: Cancel at "Overwrite foreign share?" keeps it; then alien
	// again, OK; then c2 and c3; read c2 and c3.
	entries := []pinpad.Entry{ok, ok, r.pin("alien"), cancelKey, ok, r.pin("alien"), ok}
	entries = append(entries, r.cardSteps("c2", "c3")...)
	entries = append(entries, ok)
	entries = append(entries, r.cardSteps("c2", "c3")...)
	r.script([]string{"alien", "alien", "c2", "c3", "c2", "c3"}, entries...)
	r.run(inst)
	wantPhase(t, inst, backupkey.PhaseCompleted)

	if got := refusals(r, inst.ID()); !slices.Equal(got, []string{ceremonies.RefusedForeignKept}) {
		t.Fatalf("refusals %v, want [%s]", got, ceremonies.RefusedForeignKept)
	}
	conf := payloads[*events.OverwriteConfirmed](r, inst.ID())
	want := events.OverwriteConfirmed{Serial: r.cards["alien"].Serial(), PreviousKeySetID: hex.EncodeToString(foreign.KeySetID[:]),
		PreviousIndex: 4, PreviousKCV: "abcdef", Foreign: true}
	if len(conf) != 1 || *conf[0] != want {
		t.Fatalf("overwrite confirmations %+v, want one %+v", conf, want)
	}
	out := r.out.String()
	for _, s := range []string{"Overwrite foreign", "never made", "cannot be restored"} {
		if !strings.Contains(out, s) {
			t.Errorf("the station never said %q:\n%s", s, out)
		}
	}
	// The card now holds share 1 of the new set.
	rec, err := backupkey.DecodeRecord(r.readDO("alien"))
	if err != nil || rec.KeySetHex() != r.keySetOf(inst) || rec.Index != 1 {
		t.Fatalf("alien after the confirmed overwrite: %+v, %v", rec, err)
	}
}
