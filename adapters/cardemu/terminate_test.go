package cardemu

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// TestTerminateBlockedCard: a card whose PW3 is blocked is terminated
// without any PIN, then answers only SELECT (6285) and ACTIVATE FILE,
// stays terminated across a reopen of its image, and ACTIVATE FILE gives
// the factory state: same serial, default PINs, full counters, the share
// DO and the user key gone (OpenPGP card v3.4 §7.2.16-17).
func TestTerminateBlockedCard(t *testing.T) {
	e := newEnv(t, Options{Serial: 0x77, PW1: []byte("11223344"), PW3: []byte("55667788")})
	cl := e.client
	if err := cl.Select(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Verify(openpgp.PW3, []byte("55667788")); err != nil {
		t.Fatal(err)
	}
	if err := cl.WritePrivateDO(0x0104, []byte("share record")); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GenerateDecryptionKey(); err != nil {
		t.Fatal(err)
	}
	// Not verified, not blocked: TERMINATE is refused and changes nothing.
	if err := cl.ClearVerification(openpgp.PW3); err != nil {
		t.Fatal(err)
	}
	if err := cl.Terminate(); !errors.Is(err, openpgp.ErrConditionsNotSatisfied) {
		t.Fatalf("TERMINATE without PW3: %v, want conditions not satisfied", err)
	}
	for i := 0; i < 3; i++ {
		_ = cl.Verify(openpgp.PW3, []byte("00000000"))
	}
	if tries, _, _ := cl.RetriesLeft(openpgp.PW3); tries != 0 {
		t.Fatalf("PW3 tries %d after three wrong PINs, want 0", tries)
	}
	if err := cl.Terminate(); err != nil {
		t.Fatalf("TERMINATE with PW3 blocked: %v", err)
	}
	if _, err := cl.PWStatus(); !errors.Is(err, openpgp.ErrTerminated) {
		t.Fatalf("GET DATA on a terminated card: %v, want terminated", err)
	}
	if err := cl.Select(); !errors.Is(err, openpgp.ErrTerminated) {
		t.Fatalf("SELECT of a terminated card: %v, want terminated (6285)", err)
	}

	// The terminated state is in the image: a reopened card is terminated.
	e.reader.Remove()
	again, err := Open(e.card.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !again.Terminated() {
		t.Fatal("the reopened image is not terminated")
	}
	e2 := insert(t, again)
	cl = e2.client
	if err := cl.Activate(); !errors.Is(err, openpgp.ErrTerminated) {
		t.Fatalf("ACTIVATE before SELECT: %v, want terminated", err)
	}
	if err := cl.Select(); !errors.Is(err, openpgp.ErrTerminated) {
		t.Fatal(err)
	}
	if err := cl.Activate(); err != nil {
		t.Fatalf("ACTIVATE FILE: %v", err)
	}
	if err := cl.Select(); err != nil {
		t.Fatalf("SELECT after ACTIVATE: %v", err)
	}
	aid, err := cl.AID()
	if err != nil || aid.SerialString() != "FFFE00000077" {
		t.Fatalf("serial after the reset: %v %v", aid.SerialString(), err)
	}
	st, err := cl.PWStatus()
	if err != nil || st.TriesPW1 != 3 || st.TriesPW3 != 3 {
		t.Fatalf("counters after the reset: %+v %v", st, err)
	}
	if err := cl.Verify(openpgp.PW3, []byte("123456")); err != nil {
		t.Fatalf("the default PW3 after the reset: %v", err)
	}
	if err := cl.Verify(openpgp.PW1, []byte("123456")); err != nil {
		t.Fatalf("the default PW1 after the reset: %v", err)
	}
	if do, err := cl.ReadPrivateDO(0x0104); err != nil || len(do) != 0 {
		t.Fatalf("DO 0104 after the reset: % X %v, want empty", do, err)
	}
	if _, err := cl.DecryptionPublicKey(); !errors.Is(err, openpgp.ErrNotFound) {
		t.Fatalf("the user key after the reset: %v, want none", err)
	}
	img, err := readImageFile(e.card.Path())
	if err != nil || bytes.Contains(img, []byte("terminated")) {
		t.Fatalf("the image of an activated card still says terminated (%v)", err)
	}
}

// TestTerminateAfterPW3: with PW3 verified a card is terminated; ACTIVATE
// FILE on an operational card changes nothing.
func TestTerminateAfterPW3(t *testing.T) {
	e := newEnv(t, Options{Serial: 0x78, PW3: []byte("55667788")})
	cl := e.client
	if err := cl.Select(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Verify(openpgp.PW3, []byte("55667788")); err != nil {
		t.Fatal(err)
	}
	if err := cl.WritePrivateDO(0x0104, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := cl.Activate(); err != nil {
		t.Fatalf("ACTIVATE on an operational card: %v", err)
	}
	if do, err := cl.ReadPrivateDO(0x0104); err != nil || string(do) != "kept" {
		t.Fatalf("ACTIVATE on an operational card changed DO 0104: %q %v", do, err)
	}
	if err := cl.Terminate(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Activate(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Verify(openpgp.PW3, []byte("55667788")); !errors.Is(err, openpgp.ErrWrongPIN) {
		t.Fatalf("the old PW3 after the reset: %v, want wrong PIN", err)
	}
}

// TestResetRetryCounter: a blocked PW1 is reset with PW3 verified
// (RESET RETRY COUNTER P1=02, v3.4 §7.2.4); without PW3 it is refused.
func TestResetRetryCounter(t *testing.T) {
	e := newEnv(t, Options{Serial: 0x79, PW1: []byte("11223344"), PW3: []byte("55667788")})
	cl := e.client
	if err := cl.Select(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_ = cl.Verify(openpgp.PW1, []byte("00000000"))
	}
	if err := cl.Verify(openpgp.PW1, []byte("11223344")); !errors.Is(err, openpgp.ErrPINBlocked) {
		t.Fatalf("PW1 after three wrong PINs: %v, want blocked", err)
	}
	if err := cl.ResetRetryCounter([]byte("99887766")); !errors.Is(err, openpgp.ErrSecurityStatus) {
		t.Fatalf("RESET RETRY COUNTER without PW3: %v, want security status", err)
	}
	if err := cl.Verify(openpgp.PW3, []byte("55667788")); err != nil {
		t.Fatal(err)
	}
	if err := cl.ResetRetryCounter([]byte("99887766")); err != nil {
		t.Fatalf("RESET RETRY COUNTER: %v", err)
	}
	if err := cl.Verify(openpgp.PW1, []byte("99887766")); err != nil {
		t.Fatalf("the new PW1: %v", err)
	}
}
