package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
)

// copyCredential copies card from's sealed credential to card to, as a
// forger with both cards and their PINs would.
func copyCredential(t *testing.T, s *site, from, to string) {
	t.Helper()
	read := func(name string) *openpgp.Client {
		cl, _, pull := cardClient(t, filepath.Join(s.cardsDir, name+".img"))
		t.Cleanup(pull)
		if err := cl.Verify(openpgp.PW1, []byte(testPINs[name])); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	b, err := read(from).ReadPrivateDO(0x0103)
	if err != nil || len(b) == 0 {
		t.Fatalf("read the credential of %s: %v", from, err)
	}
	if err := read(to).WritePrivateDO(0x0103, b); err != nil {
		t.Fatal(err)
	}
}

// TestUserCardEnrolActivateAndPINChange: a card is enrolled for a SoftHSM2
// slot, activates it with its PIN, a copy of its credential on another
// card is refused with the reason, and the user PIN changes independently
// of the backup PIN.
func TestUserCardEnrolActivateAndPINChange(t *testing.T) {
	tk := softhsmtest.New(t, "slot-1")
	s := newSite(t)
	slot := []string{"--cards-dir", s.cardsDir, "--hsm", "pkcs11", "--pkcs11-module", tk.Module, "--pkcs11-token", tk.Label}
	pin1 := testPINs["card1"]

	// A wrong credential is refused before any card is touched.
	bad := filepath.Join(t.TempDir(), "bad.pin")
	os.WriteFile(bad, []byte("not-the-pin\n"), 0o600)
	p := s.start(append([]string{"user", "enrol", "--operator", "alice", "--pkcs11-pin-file", bad}, slot...)...)
	if code := p.exit(t); code != exitNotDone || !strings.Contains(p.output(), "does not log into") {
		t.Fatalf("enrol with a wrong credential: exit %d\n%s", code, p.output())
	}

	p = s.start(append([]string{"user", "enrol", "--operator", "alice", "--pkcs11-pin-file", tk.PINFile}, slot...)...)
	p.send("card1", "", pin1, pin1) // admin PIN (key generation), then user PIN
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "user.enrolled") && !strings.Contains(p.output(), "enrolled for") {
		t.Fatalf("enrol: exit %d\n%s", code, p.output())
	}

	p = s.start(append([]string{"user", "activate", "--operator", "bob"}, slot...)...)
	p.send("card1", "", pin1, "") // the last Enter deactivates
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "is active") || !strings.Contains(p.output(), "deactivated on the PIN pad") {
		t.Fatalf("activate: exit %d\n%s", code, p.output())
	}

	// A one-to-one copy of the credential onto card2 does not work.
	copyCredential(t, s, "card1", "card2")
	p = s.start(append([]string{"user", "activate", "--operator", "bob"}, slot...)...)
	p.send("card2", "", testPINs["card2"], "card1", "", pin1, "")
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "user cards cannot be copied") {
		t.Fatalf("activate with a copied credential: exit %d\n%s", code, p.output())
	}

	// The user PIN changes; the policy is stated; the backup PIN is untouched.
	newPIN := "55667788"
	p = s.start("pin", "change", "--slot", "user", "--operator", "alice", "--cards-dir", s.cardsDir)
	p.send("card1", "", pin1, "123456", "123456", newPIN, newPIN)
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "factory default") || !strings.Contains(p.output(), "pin.changed") && !strings.Contains(p.output(), "is changed") {
		t.Fatalf("pin change: exit %d\n%s", code, p.output())
	}
	p = s.start(append([]string{"user", "activate", "--operator", "bob"}, slot...)...)
	p.send("card1", "", newPIN, "")
	if code := p.exit(t); code != exitOK || !strings.Contains(p.output(), "is active") {
		t.Fatalf("activate with the new user PIN: exit %d\n%s", code, p.output())
	}
	cl, _, pull := cardClient(t, filepath.Join(s.cardsDir, "card1.img"))
	if err := cl.Verify(openpgp.PW3, []byte(pin1)); err != nil {
		t.Fatalf("the backup slot PIN changed with the user PIN: %v", err)
	}
	pull()

	_, out := s.runCLI(t, "cards")
	if !strings.Contains(out, "FFFE00004001") {
		t.Fatalf("cards:\n%s", out)
	}
	secrets := cardSecrets(t, s.cardsDir, map[string]string{"card2": testPINs["card2"], "card3": testPINs["card3"]})
	secrets["new user PIN"] = []byte(newPIN)
	secrets["PIN of card1"] = []byte(pin1)
	secrets["slot credential"] = []byte(tk.PIN)
	s.mu.Lock()
	outs := map[string][]byte{"output": append([]byte(nil), s.outputs.Bytes()...)}
	s.mu.Unlock()
	scan(t, secrets, s.dataDir, outs)
}
