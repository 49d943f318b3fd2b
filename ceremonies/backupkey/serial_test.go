package backupkey_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/memhsm"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/events"
)

// foreignRecord writes a share record of a set this store never made to
// the card.
func foreignRecord(r *rig, name string, index int) {
	r.T.Helper()
	rec := &backupkey.Record{Threshold: 2, Shares: 3, Index: index, KCV: [3]byte{1, 2, 3}, Share: make([]byte, 33)}
	copy(rec.KeySetID[:], []byte("other-installatn"))
	rec.Share[32] = byte(index)
	data, err := backupkey.EncodeRecord(rec)
	if err != nil {
		r.T.Fatal(err)
	}
	r.WriteDO(name, data)
}

// Issue 13, defect 3 (and bad input "a card that holds another card's
// serial"): another installation's card with the serial of this store's
// blocked card1 verified its PIN, was refused as foreign, and its PIN
// verification cleared card1's blocked flag, and health's warnings with
// it. Now the refused card changes nothing in the registry, the conflict
// is an event and a health finding, and generate refuses the card instead
// of recording a share under that serial.
func TestDefect3CollidingSerialNeverRewritesTheRegistry(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	gen := r.Generate("gen-a", q23, []string{"c1", "c2", "c3"}, []string{"c2", "c3"})
	setA := r.KeySetOf(gen)
	c1 := r.Cards["c1"].Serial()

	// Block c1 in a load, which completes with c2 and c3.
	r.HSM = memhsm.New("hsm-2")
	load := r.StartLoad("load-block", setA)
	wrong := pinEntry("00000000")
	r.Script([]string{"c1", "c2", "c3"}, ok, ok, wrong, wrong, wrong, ok, r.PIN("c2"), ok, r.PIN("c3"))
	r.run(load)
	wantPhase(t, load, backupkey.PhaseCompleted)
	if c, _ := r.Views.Inventory.Card(c1); !c.Blocked["PW3"] {
		t.Fatalf("c1 not blocked after three wrong PINs: %+v", c)
	}

	// Another installation's card1: same serial, a share of its own set,
	// a PIN that works.
	r.NewTwin("twin", "c1")
	foreignRecord(r, "twin", 1)
	r.HSM = memhsm.New("hsm-3")
	load2 := r.StartLoad("load-twin", "")
	r.Script([]string{"twin", "c2", "c3"}, ok, ok, r.PIN("twin"), ok, r.PIN("c2"), ok, r.PIN("c3"))
	r.run(load2)
	wantPhase(t, load2, backupkey.PhaseCompleted)
	if got := refusals(r, load2.ID()); !slices.Equal(got, []string{ceremonies.RefusedSerialConflict}) {
		t.Fatalf("refusals %v, want [%s]", got, ceremonies.RefusedSerialConflict)
	}
	conflicts := payloads[*events.SerialConflict](r, load2.ID())
	if len(conflicts) != 1 || conflicts[0].Serial != c1 || conflicts[0].RegisteredKeySetID != setA || conflicts[0].RegisteredIndex != 1 {
		t.Fatalf("serial conflicts %+v, want one naming %s and share 1 of %s", conflicts, c1, setA)
	}
	c, _ := r.Views.Inventory.Card(c1)
	if !c.Blocked["PW3"] || c.KeySetID != setA || c.ShareIndex != 1 || len(c.Conflicts) != 1 {
		t.Fatalf("registry entry of c1 after the twin was refused: %+v; want blocked, share 1 of %s, one conflict", c, setA)
	}
	var blocked, claimed bool
	for _, f := range r.Views.Findings(r.Eng, r.Clock.Now()) {
		if f.Subject == "card "+c1 {
			blocked = blocked || strings.Contains(f.What, "blocked")
			claimed = claimed || strings.Contains(f.What, "two cards claim serial "+c1)
		}
	}
	if !blocked || !claimed {
		t.Fatalf("health: blocked finding %v, two-cards finding %v, want both for %s", blocked, claimed, c1)
	}

	// Generate refuses the twin outright: no "Overwrite foreign share?",
	// no share recorded under c1's serial.
	for _, n := range []string{"n1", "n2", "n3"} {
		r.NewCard(n)
	}
	r.HSM = memhsm.New("hsm-4")
	genB := r.StartGenerate("gen-twin", q23)
	entries := []pinpad.Entry{ok, ok, r.PIN("twin")}
	entries = append(entries, r.CardSteps("n1", "n2", "n3")...)
	entries = append(entries, ok)
	entries = append(entries, r.CardSteps("n1", "n2")...)
	r.Script([]string{"twin", "n1", "n2", "n3", "n1", "n2"}, entries...)
	r.run(genB)
	wantPhase(t, genB, backupkey.PhaseCompleted)
	if got := refusals(r, genB.ID()); !slices.Equal(got, []string{ceremonies.RefusedSerialConflict}) {
		t.Fatalf("generate refusals %v, want [%s]", got, ceremonies.RefusedSerialConflict)
	}
	if c, _ := r.Views.Inventory.Card(c1); !c.Blocked["PW3"] || c.KeySetID != setA {
		t.Fatalf("registry entry of c1 after generate met the twin: %+v", c)
	}
}

// Issue 13, bad input: a share record with an altered KCV field (checksum
// fixed) was accepted: the commitment does not cover it. It is now
// checked against the key set.
func TestAlteredKCVFieldIsRefused(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	gen := r.Generate("gen-kcv", q23, []string{"c1", "c2", "c3"}, []string{"c1", "c2"})
	r.Reader.Remove()
	rec, err := backupkey.DecodeRecord(r.ReadDO("c2"))
	if err != nil {
		t.Fatal(err)
	}
	rec.KCV[0] ^= 0xFF
	altered, _ := backupkey.EncodeRecord(rec)
	r.WriteDO("c2", altered)
	r.HSM = memhsm.New("hsm-kcv")
	load := r.StartLoad("load-kcv", r.KeySetOf(gen))
	r.Script([]string{"c2", "c1", "c3"}, ok, ok, r.PIN("c2"), ok, r.PIN("c1"), ok, r.PIN("c3"))
	r.run(load)
	wantPhase(t, load, backupkey.PhaseCompleted)
	if got := refusals(r, load.ID()); !slices.Equal(got, []string{ceremonies.RefusedCorrupt}) {
		t.Fatalf("refusals %v, want the altered record refused as corrupt", got)
	}
}
