package backupkey_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/ceremonytest"
)

// TestPINAndShareCopiesInProcessMemory counts each card's PIN and share
// in this process's memory around a generate and a load. The ceremonies
// (the scripted PIN pad, VerifyPIN, the share steps, the openpgp client,
// the emulated card's APDU handling) add no copy of a PIN to those counted
// before them: the test's own (the PIN string it scripts) and the
// in-process emulated card's (PW1 and PW3, as a real card holds them).
// After each ceremony a share is in memory once: in the emulated card's
// state, as a real card holds it; the written, read back and read records
// are wiped.
func TestPINAndShareCopiesInProcessMemory(t *testing.T) {
	r := newRig(t)
	// A longer liveness bound than the rig's: some thirty scans of the
	// whole process memory take minutes under the race detector.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	r.Ctx = ctx
	threeCards(r)
	names := []string{"c1", "c2", "c3"}
	pins := map[string][]byte{}
	for _, n := range names {
		pins[n] = ceremonytest.Masked(r.PINs[n])
	}
	runtime.GC()
	before := map[string]int{}
	for _, n := range names {
		before[n] = countInMemory(t, pins[n])
	}
	shares := map[string][]byte{}
	check := func(after string) {
		t.Helper()
		runtime.GC()
		for _, n := range names {
			if got := countInMemory(t, pins[n]); got > before[n] {
				t.Errorf("after %s the PIN of %s is in memory %d times, %d before the ceremonies (the test's and the card's)", after, n, got, before[n])
			}
			if shares[n] == nil {
				shares[n] = r.MaskedShare(n)
			}
			if got := countInMemory(t, shares[n]); got != 1 {
				t.Errorf("after %s the share of %s is in memory %d times, want 1 (the emulated card's)", after, n, got)
			}
		}
	}
	gen := r.StartGenerate("gen-secrets", backupkey.Quorum{Threshold: 2, Shares: 3})
	r.Script([]string{"c1", "c2", "c3", "c1", "c2"}, append(append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2", "c3")...), append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2")...)...)...)
	r.run(gen)
	check("the generate")
	load := r.StartLoad("load-secrets", r.KeySetOf(gen))
	r.Script([]string{"c2", "c3"}, append([]pinpad.Entry{ok}, r.CardSteps("c2", "c3")...)...)
	r.run(load)
	check("the load")
}
