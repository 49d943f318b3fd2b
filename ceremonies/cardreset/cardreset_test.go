package cardreset_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/cardreset"
)

// block spends every try of the card's PIN ref with wrong PINs.
func (r *rig) block(name string, ref openpgp.PINRef) {
	r.T.Helper()
	cl, pull := r.Client(name)
	defer pull()
	for i := 0; i < 3; i++ {
		_ = cl.Verify(ref, []byte("00000000"))
	}
	if tries, _, err := cl.RetriesLeft(ref); err != nil || tries != 0 {
		r.T.Fatalf("card %s %s: %d tries left (%v), want blocked", name, ref, tries, err)
	}
}

// TestResetBlockedCard: a card of a live 2-of-3 set whose backup PIN is
// blocked is reset without any PIN after the operator confirmed a
// sentence naming the share lost and the margin left; the card is in its
// factory state, the registry says it holds nothing, the set lost that
// holder, and health recomputes the margin (exactly 2 usable shares for
// a threshold of 2) and flags the card's default PINs.
func TestResetBlockedCard(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2", "c3"} {
		r.NewCard(n)
	}
	set := r.KeySet()
	r.block("c3", openpgp.PW3)
	ks, _ := r.Views.Inventory.KeySet(set)

	inst := r.reset("reset-1", ceremonies.Params{"serial": r.Serial("c3")}, []string{"c3"}, ok, ok)
	if inst.Phase() != cardreset.PhaseCompleted {
		t.Fatalf("phase %s, want completed", inst.Phase())
	}
	named := payloads[*cardreset.ContentNamed](r, inst.ID())
	if len(named) != 1 {
		t.Fatalf("content_named: %+v", named)
	}
	n := named[0]
	wantLoss := "share 3 of key set " + set + " (KCV " + ks.KCV + ") will be gone for good; the set keeps 2 of 3 usable shares, quorum 2"
	if n.From != "registry" || n.Holds != cardreset.HoldsShare || n.Index != 3 || n.KeepsUsable != 2 || !strings.Contains(n.Loss, wantLoss) {
		t.Fatalf("content_named %+v\nwant a loss saying %q", n, wantLoss)
	}
	conf := payloads[*cardreset.Confirmed](r, inst.ID())
	done := payloads[*cardreset.CardReset](r, inst.ID())
	if len(conf) != 1 || conf[0].Loss != n.Loss || conf[0].By != "carol" || len(done) != 1 || done[0].KeySetID != set || done[0].Index != 3 {
		t.Fatalf("confirmed %+v, card_reset %+v", conf, done)
	}

	// The card is in its factory state.
	cl, pull := r.Client("c3")
	if err := cl.Verify(openpgp.PW3, []byte(ceremonies.DefaultPIN)); err != nil {
		t.Fatalf("the default backup PIN after the reset: %v", err)
	}
	if do, err := cl.ReadPrivateDO(0x0104); err != nil || len(do) != 0 {
		t.Fatalf("the backup slot after the reset: %d bytes, %v", len(do), err)
	}
	pull()

	// The registry and health.
	c, _ := r.Views.Inventory.Card(r.Serial("c3"))
	if c.KeySetID != "" || c.ShareIndex != 0 || c.Blocked["PW3"] || !c.DefaultPIN["PW3"] || !c.DefaultPIN["PW1"] {
		t.Fatalf("registry entry after the reset: %+v", c)
	}
	ks, _ = r.Views.Inventory.KeySet(set)
	if len(ks.Holders[3]) != 0 || len(ks.Holders[1]) != 1 {
		t.Fatalf("holders after the reset: %v", ks.Holders)
	}
	f := r.Findings()
	for _, w := range []string{"warning | key set " + set + " | exactly 2 usable distinct shares for a threshold of 2",
		"warning | card " + r.Serial("c3") + " | still on the factory default PIN (PW3)"} {
		if !strings.Contains(f, w) {
			t.Errorf("health lacks %q:\n%s", w, f)
		}
	}
	if strings.Contains(f, "card "+r.Serial("c3")+" | its backup PIN (PW3) is blocked") {
		t.Errorf("health still reports the reset card blocked:\n%s", f)
	}
	r.ScanStore()
}

// TestResetRefusedWithoutConfirmation: the operator is told what would be
// lost and presses Cancel: the ceremony is aborted and the card, the
// registry and health are as they were.
func TestResetRefusedWithoutConfirmation(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2", "c3"} {
		r.NewCard(n)
	}
	set := r.KeySet()
	before := r.Findings()
	inst := r.reset("reset-no", nil, []string{"c2"}, ok, r.PIN("c2"), cancelKey)
	if inst.Phase() != cardreset.PhaseAborted {
		t.Fatalf("phase %s, want aborted", inst.Phase())
	}
	named := payloads[*cardreset.ContentNamed](r, inst.ID())
	if len(named) != 1 || named[0].From != "card" || !strings.Contains(named[0].Loss, "share 2 of key set "+set) ||
		!strings.Contains(named[0].Loss, "keeps 2 of 3 usable shares, quorum 2") {
		t.Fatalf("content_named: %+v", named)
	}
	if n := len(payloads[*cardreset.ResetRequested](r, inst.ID())) + len(payloads[*cardreset.Confirmed](r, inst.ID())); n != 0 {
		t.Fatalf("%d confirmation or reset events without a confirmation", n)
	}
	if !strings.Contains(r.Out.String(), "nothing was changed") {
		t.Errorf("the operator is not told that nothing changed:\n%s", r.Out.String())
	}
	cl, pull := r.Client("c2")
	defer pull()
	if err := cl.Verify(openpgp.PW3, []byte(r.PINs["c2"])); err != nil {
		t.Fatalf("card c2's PIN after a refused reset: %v", err)
	}
	if do, err := cl.ReadPrivateDO(0x0104); err != nil || len(do) == 0 {
		t.Fatalf("card c2's share after a refused reset: %d bytes, %v", len(do), err)
	}
	c, _ := r.Views.Inventory.Card(r.Serial("c2"))
	if c.KeySetID != set || c.ShareIndex != 2 {
		t.Fatalf("registry after a refused reset: %+v", c)
	}
	if after := r.Findings(); after != before {
		t.Fatalf("health changed after a refused reset:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestResetWrongCardRefused: with --serial, another card is refused
// before anything is read from it.
func TestResetWrongCardRefused(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2"} {
		r.NewCard(n)
	}
	inst := r.reset("reset-wrong", ceremonies.Params{"serial": r.Serial("c2")}, []string{"c1", "c2"}, ok, ok, r.PIN("c2"), ok)
	if inst.Phase() != cardreset.PhaseCompleted {
		t.Fatalf("phase %s", inst.Phase())
	}
	if !strings.Contains(r.Out.String(), "this ceremony resets card "+r.Serial("c2")+", not card "+r.Serial("c1")) {
		t.Fatalf("no refusal of the wrong card:\n%s", r.Out.String())
	}
	named := payloads[*cardreset.ContentNamed](r, inst.ID())
	if len(named) != 1 || named[0].Serial != r.Serial("c2") || named[0].Holds != cardreset.HoldsNothing {
		t.Fatalf("content_named: %+v", named)
	}
}

// TestResetUserPIN: a card whose user PIN is blocked gets a new one with
// its backup PIN (RESET RETRY COUNTER); the share stays, a PIN breaking
// the policy is refused and asked again, no PIN is stored.
func TestResetUserPIN(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2", "c3"} {
		r.NewCard(n)
	}
	set := r.KeySet()
	r.block("c1", openpgp.PW1)
	newPIN := pinpad.Entry{Kind: pinpad.PIN, PIN: "73125468"}
	inst := r.reset("reset-pw1", ceremonies.Params{"mode": cardreset.ModeUserPIN}, []string{"c1"},
		ok, r.PIN("c1"), ok, pinpad.Entry{Kind: pinpad.PIN, PIN: ceremonies.DefaultPIN}, pinpad.Entry{Kind: pinpad.PIN, PIN: ceremonies.DefaultPIN},
		newPIN, newPIN)
	if inst.Phase() != cardreset.PhaseCompleted {
		t.Fatalf("phase %s", inst.Phase())
	}
	if got := payloads[*cardreset.UserPINReset](r, inst.ID()); len(got) != 1 || got[0].Serial != r.Serial("c1") {
		t.Fatalf("user_pin_reset: %+v", got)
	}
	conf := payloads[*cardreset.Confirmed](r, inst.ID())
	if len(conf) != 1 || !strings.Contains(conf[0].Loss, "(blocked) is replaced by a new one") {
		t.Fatalf("confirmed: %+v", conf)
	}
	cl, pull := r.Client("c1")
	defer pull()
	if err := cl.Verify(openpgp.PW1, []byte("73125468")); err != nil {
		t.Fatalf("the new user PIN: %v", err)
	}
	if err := cl.Verify(openpgp.PW3, []byte(r.PINs["c1"])); err != nil {
		t.Fatal(err)
	}
	if do, err := cl.ReadPrivateDO(0x0104); err != nil || len(do) == 0 {
		t.Fatalf("the share after a user PIN reset: %d bytes, %v", len(do), err)
	}
	c, _ := r.Views.Inventory.Card(r.Serial("c1"))
	if c.KeySetID != set || c.Blocked["PW1"] || c.DefaultPIN["PW1"] {
		t.Fatalf("registry after a user PIN reset: %+v", c)
	}
	r.PINs["new"] = "73125468"
	r.ScanStore()
}

// TestCheckParams: bad --mode and --serial name what is wrong.
func TestCheckParams(t *testing.T) {
	k := cardreset.CardResetKind()
	for p, want := range map[string]ceremonies.Params{
		"--mode \"wipe\": use factory":             {"mode": "wipe"},
		"--serial \"12\": a card serial is 12 hex": {"serial": "12"},
	} {
		err := k.Start.Check(want)
		var u *ceremonies.UsageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), p) {
			t.Errorf("%v: %v, want a usage error saying %q", want, err, p)
		}
	}
}
