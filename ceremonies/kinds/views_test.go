package kinds_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

const (
	setA  = "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0"
	setB  = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
	setC  = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"
	setD  = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"
	cardX = "000500000011"
	cardY = "000500000012"
	cardZ = "000500000013"
	cardV = "000500000014"
	cardU = "000500000015"
)

func keyGenerated(set string) *events.KeyGenerated {
	return &events.KeyGenerated{KeySetID: set, Threshold: 2, Shares: 3, KCV: set[:6],
		Commitments: []events.ShareCommitment{{Index: 1, Commitment: "c1"}, {Index: 2, Commitment: "c2"}, {Index: 3, Commitment: "c3"}}}
}

// TestProjections records ceremonies and checks the card registry and the
// key sets after each step; a new engine over the same store folds the
// same read models.
func TestProjections(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	eng, views := newEngine(t, store)

	begin := func(id string, set string) *engine.Instance {
		t.Helper()
		inst := startGenerate(t, eng, id)
		rec(t, inst, &events.WriteConfirmed{})
		rec(t, inst, keyGenerated(set))
		return inst
	}
	a := begin("proj-a", setA)
	if ks, ok := views.Inventory.KeySet(setA); !ok || ks.Status != inventory.KeySetPending || ks.Ceremony != "proj-a" || ks.Commitments[2] != "c2" || ks.Threshold != 2 {
		t.Fatalf("new key set = %+v, %v; want pending, from proj-a, with its commitments", ks, ok)
	}

	// A PIN verification counts once the ceremony goes on with the card
	// (here: the card is removed); a refusal right after drops it.
	goOn := func(serial string) { rec(t, a, &events.CardRemoved{Reader: "r", Serial: serial}) }

	// Default PIN: flagged when verified with the default, cleared by a
	// later verification with another PIN.
	rec(t, a, &events.PINVerified{Serial: cardX, PIN: "PW3", DefaultPIN: true})
	goOn(cardX)
	checkCard(t, views, cardX, func(c inventory.Card) bool { return c.DefaultPIN["PW3"] && !c.DefaultPIN["PW1"] }, "PW3 default PIN flagged")
	rec(t, a, &events.PINVerified{Serial: cardX, PIN: "PW1", DefaultPIN: true})
	rec(t, a, &events.PINVerified{Serial: cardX, PIN: "PW3", DefaultPIN: false})
	goOn(cardX)
	checkCard(t, views, cardX, func(c inventory.Card) bool { return !c.DefaultPIN["PW3"] && c.DefaultPIN["PW1"] }, "PW3 flag cleared, PW1 kept")

	// Blocked: set by card.blocked, per PIN, cleared by a verification of
	// a card that is not refused (issue 13, defect 3: a refused card with
	// the same serial never clears it).
	rec(t, a, &events.CardBlocked{Serial: cardY, PIN: "PW3"})
	checkCard(t, views, cardY, func(c inventory.Card) bool { return c.Blocked["PW3"] && !c.Blocked["PW1"] }, "PW3 blocked")
	rec(t, a, &events.PINVerified{Serial: cardY, PIN: "PW3"})
	rec(t, a, &events.CardRefused{Serial: cardY, Code: "foreign", Message: "m"})
	goOn(cardY)
	checkCard(t, views, cardY, func(c inventory.Card) bool { return c.Blocked["PW3"] }, "PW3 still blocked after a refused card's verification")
	rec(t, a, &events.PINVerified{Serial: cardY, PIN: "PW3"})
	goOn(cardY)
	checkCard(t, views, cardY, func(c inventory.Card) bool { return !c.Blocked["PW3"] }, "PW3 unblocked after a verification")

	// A write: uncertain while requested, then the card holds share 1 of A.
	rec(t, a, &events.ShareWriteRequested{Serial: cardX, KeySetID: setA, Index: 1})
	checkCard(t, views, cardX, func(c inventory.Card) bool { return c.Uncertain && c.KeySetID == "" }, "uncertain during the write")
	rec(t, a, &events.ShareWritten{Serial: cardX, KeySetID: setA, Index: 1})
	checkCard(t, views, cardX, func(c inventory.Card) bool { return !c.Uncertain && c.KeySetID == setA && c.ShareIndex == 1 }, "holds share 1 of A")
	checkHolders(t, views, setA, map[int][]string{1: {cardX}})
	// A failed write leaves the card holding nothing.
	rec(t, a, &events.ShareWritten{Serial: cardU, KeySetID: setA, Index: 2})
	rec(t, a, &events.ShareWriteFailed{Serial: cardU, KeySetID: setA, Index: 3, Error: "card removed"})
	checkCard(t, views, cardU, func(c inventory.Card) bool { return c.KeySetID == "" && c.ShareIndex == 0 }, "holds nothing after a failed write")
	checkHolders(t, views, setA, map[int][]string{1: {cardX}, 2: {}})

	// HSMKeyLoaded makes a set live.
	rec(t, a, &events.ReadConfirmed{})
	rec(t, a, &events.HSMKeyLoaded{HSM: hsm, KeySetID: setA, KCV: setA[:6], Label: "backup-key-a0a0a0a0"})
	if ks, _ := views.Inventory.KeySet(setA); ks.Status != inventory.KeySetLive {
		t.Fatalf("key set A after hsm.key_loaded: %q, want live", ks.Status)
	}

	// ShareWritten of another set moves the card from A's holders to B's.
	b := begin("proj-b", setB)
	rec(t, b, &events.ShareWritten{Serial: cardX, KeySetID: setB, Index: 2})
	rec(t, b, &events.ShareWritten{Serial: cardZ, KeySetID: setB, Index: 1})
	checkHolders(t, views, setA, map[int][]string{1: {}, 2: {}})
	checkHolders(t, views, setB, map[int][]string{1: {cardZ}, 2: {cardX}})
	checkCard(t, views, cardX, func(c inventory.Card) bool { return c.KeySetID == setB && c.ShareIndex == 2 }, "holds share 2 of B")

	// A card written for C, then rewritten for D, is not voided with C.
	c := begin("proj-c", setC)
	d := begin("proj-d", setD)
	rec(t, c, &events.ShareWritten{Serial: cardV, KeySetID: setC, Index: 1})
	rec(t, d, &events.ShareWritten{Serial: cardV, KeySetID: setD, Index: 1})
	rec(t, c, &events.KeySetVoided{KeySetID: setC, Written: []string{cardV}, Reason: "stopped"})
	checkCard(t, views, cardV, func(c inventory.Card) bool { return !c.Void && c.KeySetID == setD }, "not void: it holds a share of D now")

	// KeySetVoided marks the set void and the cards that hold it void.
	rec(t, b, &events.KeySetVoided{KeySetID: setB, Written: []string{cardX, cardZ}, Reason: "stopped with 2 of 3 written"})
	if ks, _ := views.Inventory.KeySet(setB); ks.Status != inventory.KeySetVoid {
		t.Fatalf("key set B after key_set_voided: %q, want void", ks.Status)
	}
	for _, s := range []string{cardX, cardZ} {
		checkCard(t, views, s, func(c inventory.Card) bool { return c.Void && c.KeySetID == setB }, "void with B")
	}
	if b.Phase() != backupkey.PhaseVoid {
		t.Errorf("ceremony B phase %q, want void", b.Phase())
	}
	// A void set stays void, even if some ceremony reports loading it.
	ld, err := eng.Start(ctx, backupkey.KindLoad, "proj-load", events.SourceOperator, &events.LoadStarted{Operator: "bob", KeySetID: setB, Reader: reader, HSM: hsm})
	if err != nil {
		t.Fatal(err)
	}
	rec(t, ld, &events.ReadConfirmed{})
	rec(t, ld, &events.HSMKeyLoaded{HSM: hsm, KeySetID: setB, KCV: setB[:6], Label: "backup-key-b0b0b0b0"})
	if ks, _ := views.Inventory.KeySet(setB); ks.Status != inventory.KeySetVoid {
		t.Errorf("void key set B after hsm.key_loaded: %q, want still void", ks.Status)
	}
	// Rewriting a void card makes it an ordinary holder again.
	rec(t, d, &events.ShareWritten{Serial: cardZ, KeySetID: setD, Index: 2})
	checkCard(t, views, cardZ, func(c inventory.Card) bool { return !c.Void && c.KeySetID == setD }, "rewritten for D, no longer void")
	checkHolders(t, views, setD, map[int][]string{1: {cardV}, 2: {cardZ}})

	// Read models are copies: changing one does not change the engine's.
	ks, _ := views.Inventory.KeySet(setD)
	ks.Holders[1][0] = "tampered"
	ks.Commitments[1] = "tampered"
	cr, _ := views.Inventory.Card(cardX)
	cr.DefaultPIN["PW1"] = false
	checkHolders(t, views, setD, map[int][]string{1: {cardV}, 2: {cardZ}})
	checkCard(t, views, cardX, func(c inventory.Card) bool { return c.DefaultPIN["PW1"] }, "unchanged by a caller")

	// A new engine over the same store folds the same read models.
	_, again := newEngine(t, store)
	if got, want := again.Inventory.Cards(), views.Inventory.Cards(); !reflect.DeepEqual(got, want) {
		t.Errorf("card registry after replay:\n%+v\nwant\n%+v", got, want)
	}
	for _, set := range []string{setA, setB, setC, setD} {
		got, _ := again.Inventory.KeySet(set)
		want, _ := views.Inventory.KeySet(set)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("key set %s after replay:\n%+v\nwant\n%+v", set, got, want)
		}
	}
	if _, ok := views.Inventory.KeySet("unknown"); ok {
		t.Error("KeySet of an unknown set reports it")
	}
	if _, ok := views.Inventory.Card("000000000000"); ok {
		t.Error("Card of an unknown serial reports it")
	}
}

// rec records one payload.
func rec(t *testing.T, inst *engine.Instance, p events.Payload) {
	t.Helper()
	if err := inst.Record(context.Background(), events.SourceEngine, p); err != nil {
		t.Fatalf("record %s in %s: %v", p.EventType(), inst.ID(), err)
	}
}

func checkCard(t *testing.T, views *kinds.Views, serial string, ok func(inventory.Card) bool, what string) {
	t.Helper()
	c, found := views.Inventory.Card(serial)
	if !found {
		t.Fatalf("card %s unknown to the registry", serial)
	}
	if !ok(c) {
		t.Fatalf("card %s: want %s, got %+v", serial, what, c)
	}
}

func checkHolders(t *testing.T, views *kinds.Views, set string, want map[int][]string) {
	t.Helper()
	ks, ok := views.Inventory.KeySet(set)
	if !ok {
		t.Fatalf("key set %s unknown", set)
	}
	got := map[int][]string{}
	for i, hs := range ks.Holders {
		got[i] = append([]string{}, hs...)
	}
	for i, hs := range want {
		if hs == nil {
			want[i] = []string{}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("holders of %s = %v, want %v", set, got, want)
	}
}

// TestRehearsalFromTheStation: a ceremony is a rehearsal in the console's
// list when its ceremony.station names its reader or HSM with the
// rehearsal mark (the console's emulated station), and not otherwise: a
// PC/SC reader on vpcd cards with SoftHSM2 is recorded as emulated cards
// and a software HSM, and the console shows it as a real station; no
// station recorded is no rehearsal. The mark survives a checkpoint.
func TestRehearsalFromTheStation(t *testing.T) {
	store := openStore(t, t.TempDir())
	eng, views := newEngine(t, store)
	r := startGenerate(t, eng, "st-rehearsal")
	rec(t, r, &events.StationDescribed{HSM: "software HSM: rehearsal (in-memory HSM (rehearsal), in memory)", SoftwareHSM: true,
		Readers: []events.StationReader{{Name: "Console emulated reader (rehearsal)", Class: "host-pinpad"}}, EmulatedCards: true, Cards: "emulated"})
	real := startGenerate(t, eng, "st-real")
	rec(t, real, &events.StationDescribed{HSM: "PKCS#11 module libsofthsm2.so (SoftHSM: a software HSM, rehearsal)", SoftwareHSM: true,
		Readers: []events.StationReader{{Name: "Virtual PCD 00 00", Class: "host-pinpad"}}, EmulatedCards: true, Cards: "emulated cards behind vpcd, through pcscd"})
	startGenerate(t, eng, "st-none")
	data, err := views.Checkpoint(store.StreamName(), eng, "h").Encode()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := kinds.DecodeCheckpoint(data, store.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	restored, err := cp.Restore()
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"st-rehearsal": true, "st-real": false, "st-none": false} {
		if got := views.Rehearsal(id); got != want {
			t.Errorf("%s: rehearsal %v, want %v", id, got, want)
		}
		if got := restored.Rehearsal(id); got != want {
			t.Errorf("%s from the checkpoint: rehearsal %v, want %v", id, got, want)
		}
	}
}
