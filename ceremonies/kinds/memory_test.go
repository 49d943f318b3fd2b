package kinds_test

import (
	"context"
	"io"
	"runtime/debug"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/cardreset"
	"github.com/ceremony-hsm/ceremony/ceremonies/ceremonytest"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecheck"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/ceremonies/usercard"
)

// tokenSlots is a SoftHSM2 token as the PKCS#11 slot a user card stands
// for: a login opens the token with the credential the card unsealed (as
// cmd/ceremony's slot does).
type tokenSlots struct {
	name string
	cfg  pkcs11hsm.Config
}

func (s tokenSlots) Name() string { return s.name }

func (s tokenSlots) Login(ctx context.Context, credential []byte) (io.Closer, error) {
	cfg := s.cfg
	cfg.PIN = pkcs11hsm.PINSource{Prompt: func() ([]byte, error) { return credential, nil }}
	return pkcs11hsm.Open(ctx, cfg)
}

// needles are the secrets the memory test counts, masked, and how often
// each may be in memory after a ceremony.
type needles struct {
	names  []string
	masked [][]byte
}

func (n *needles) add(name string, masked []byte) {
	n.names = append(n.names, name)
	n.masked = append(n.masked, masked)
}

// TestPINAndShareCopiesInProcessMemory runs every card ceremony kind in
// turn on one station in this process (generate, load, share copy, share
// check, PIN change, user-card enrol and activate on a SoftHSM2 slot, a
// user PIN reset and a factory reset) and after each counts every PIN,
// share and the slot credential in the process's own memory, all in one
// scan. The ceremonies (the scripted PIN pad, the shared card steps, the
// openpgp client, the emulated card's APDU handling, the sealing of the
// credential) add no copy of a PIN or of the credential to those counted
// before them (the test's own, the in-process emulated cards' PW1 and
// PW3 as a real card holds them), but for the card's copy of a PIN it
// was given and the copy a card dropped (a changed PIN, a reset card); a
// share is in memory exactly as often as emulated cards hold it.
func TestPINAndShareCopiesInProcessMemory(t *testing.T) {
	r := ceremonytest.New(t)
	// A longer liveness bound than the rig's: each scan reads the whole
	// process memory, slowly under the race detector on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	r.Ctx = ctx
	tk := softhsmtest.New(t, "user-slot")
	r.Slots = tokenSlots{name: "pkcs11:token=" + tk.Label, cfg: pkcs11hsm.Config{Module: tk.Module, Token: tk.Label, Name: "pkcs11:token=" + tk.Label}}
	cards := []string{"c1", "c2", "c3", "c4"}
	for _, n := range cards {
		r.NewCard(n)
	}
	const (
		newPIN  = "24681357" // c4's backup PIN after the PIN change
		userPIN = "13572468" // c2's user PIN after the user PIN reset
	)

	var nd needles
	for _, n := range cards {
		nd.add("the PIN of "+n, ceremonytest.Masked(r.PINs[n]))
	}
	nd.add("c4's new PIN", ceremonytest.Masked(newPIN))
	nd.add("c2's new user PIN", ceremonytest.Masked(userPIN))
	nd.add("the slot credential", ceremonytest.Masked(tk.PIN))
	pins := len(nd.names)
	debug.FreeOSMemory()
	before := ceremonytest.CountInMemory(t, nd.masked...)
	t.Logf("before the ceremonies: %v", before)
	// moved is how many more copies of each PIN the emulated cards hold
	// than before the ceremonies: a PIN a card was given one more, a PIN
	// it holds no more (a changed PIN, a reset card) one less per slot.
	moved := make([]int, pins)
	check := func(after string, shares map[int]int) {
		t.Helper()
		debug.FreeOSMemory()
		got := ceremonytest.CountInMemory(t, nd.masked...)
		t.Logf("after %s: %v", after, got)
		for i := 0; i < pins; i++ {
			if want := before[i] + moved[i]; got[i] > want {
				t.Errorf("after %s %s is in memory %d times, want at most %d (the test's and the emulated cards')", after, nd.names[i], got[i], want)
			}
		}
		for i, want := range shares {
			if got[i] != want {
				t.Errorf("after %s %s is in memory %d times, want %d (the emulated cards')", after, nd.names[i], got[i], want)
			}
		}
	}

	// generate 2-of-3 on c1..c3, then the shares are known.
	gen := r.StartGenerate("gen-secrets", backupkey.Quorum{Threshold: 2, Shares: 3})
	plan, entries := r.GenerateScript(cards[:3], cards[:2])
	r.Run(backupkey.Generate(), r.Env(), gen, plan, entries...)
	for _, n := range cards[:3] {
		nd.add("the share of "+n, r.MaskedShare(n))
	}
	share := func(n string) int { return pins + int(n[1]-'1') }
	one := map[int]int{share("c1"): 1, share("c2"): 1, share("c3"): 1}
	check("the generate", one)

	load := r.StartLoad("load-secrets", r.KeySetOf(gen))
	r.Run(backupkey.Load(), r.Env(), load, []string{"c2", "c3"}, append([]pinpad.Entry{ceremonytest.OK}, r.CardSteps("c2", "c3")...)...)
	check("the load", one)

	cp := r.Ceremony(sharecopy.ShareCopy(), "copy-secrets", nil, "alice", []string{"c1", "c4"}, r.CardSteps("c1", "c4")...)
	ceremonytest.WantPhase(t, cp, sharecopy.PhaseCompleted)
	check("the share copy", map[int]int{share("c1"): 2, share("c2"): 1, share("c3"): 1})

	sc := r.Ceremony(sharecheck.ShareCheck(), "check-secrets", ceremonies.Params{"key-set": r.KeySetOf(gen)}, "carol", []string{"c2", "c3"}, ceremonytest.OK, r.PIN("c2"), ceremonytest.OK, ceremonytest.OK, r.PIN("c3"), ceremonytest.Cancel)
	ceremonytest.WantPhase(t, sc, sharecheck.PhaseCompleted)
	check("the share check", map[int]int{share("c1"): 2, share("c2"): 1, share("c3"): 1})

	pc := r.Ceremony(pinchange.PINChange(), "pin-secrets", ceremonies.Params{"slot": string(ceremonies.BackupSlot)}, "alice", []string{"c4"}, ceremonytest.OK, r.PIN("c4"), ceremonytest.PINEntry(newPIN), ceremonytest.PINEntry(newPIN))
	ceremonytest.WantPhase(t, pc, pinchange.PhaseCompleted)
	moved[3], moved[4] = -1, 1 // c4 holds its new PIN as PW3, the old one as PW1 only
	check("the PIN change", map[int]int{share("c1"): 2, share("c2"): 1, share("c3"): 1})

	env := r.Env()
	env.Credential = []byte(tk.PIN) // as read from --pkcs11-pin-file; the runner wipes it
	en := r.Start(usercard.Enrol(), "enrol-secrets", nil, "alice")
	r.Run(usercard.Enrol(), env, en, []string{"c3"}, ceremonytest.OK, r.PIN("c3"), r.PIN("c3"))
	ceremonytest.WantPhase(t, en, usercard.PhaseCompleted)
	ac := r.Ceremony(usercard.Activate(), "activate-secrets", nil, "bob", []string{"c3"}, ceremonytest.OK, r.PIN("c3"), ceremonytest.OK)
	ceremonytest.WantPhase(t, ac, usercard.PhaseCompleted)
	check("the user card's enrol and activate", map[int]int{share("c1"): 2, share("c2"): 1, share("c3"): 1})

	// The card reset in both modes: c2's user PIN, then c4 (a copy of
	// share 1, its backup PIN changed) back to its factory state.
	ru := r.Ceremony(cardreset.CardResetKind(), "reset-pw1-secrets", ceremonies.Params{"mode": cardreset.ModeUserPIN}, "carol", []string{"c2"}, ceremonytest.OK, r.PIN("c2"), ceremonytest.OK, ceremonytest.PINEntry(userPIN), ceremonytest.PINEntry(userPIN))
	ceremonytest.WantPhase(t, ru, cardreset.PhaseCompleted)
	moved[1], moved[5] = -1, 1 // c2 holds its new user PIN as PW1, the old one as PW3 only
	rs := r.Ceremony(cardreset.CardResetKind(), "reset-secrets", ceremonies.Params{"serial": r.Serial("c4")}, "carol", []string{"c4"}, ceremonytest.OK, ceremonytest.PINEntry(newPIN), ceremonytest.OK)
	ceremonytest.WantPhase(t, rs, cardreset.PhaseCompleted)
	moved[3], moved[4] = -2, 0 // c4 is in its factory state: both PINs 123456
	check("the card resets", one)
}
