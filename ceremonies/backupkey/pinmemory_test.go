package backupkey_test

import (
	"runtime"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
)

// maskedPIN is pin XOR mask, for countInMemory.
func maskedPIN(pin string) []byte {
	b := []byte(pin)
	for i := range b {
		b[i] ^= mask
	}
	return b
}

// TestPINCopiesInProcessMemory counts each card's PIN in this process's
// memory before a generate and after it and after a load: the ceremonies
// (the scripted PIN pad, VerifyPIN, the openpgp client, the emulated card's
// APDU handling) add no copy. The copies counted before are the test's own
// (the PIN string it scripts) and the in-process emulated card's (PW1 and
// PW3 in its state, as a real card holds them).
func TestPINCopiesInProcessMemory(t *testing.T) {
	r := newRig(t)
	threeCards(r)
	names := []string{"c1", "c2", "c3"}
	masked := map[string][]byte{}
	for _, n := range names {
		masked[n] = maskedPIN(r.pins[n])
	}
	runtime.GC()
	before := map[string]int{}
	for _, n := range names {
		before[n] = countInMemory(t, masked[n])
	}
	check := func(after string) {
		t.Helper()
		runtime.GC()
		for _, n := range names {
			if got := countInMemory(t, masked[n]); got > before[n] {
				t.Errorf("after %s the PIN of %s is in memory %d times, %d before the ceremonies (the test's and the card's)", after, n, got, before[n])
			}
		}
	}
	gen := r.startGenerate("gen-pins", backupkey.Quorum{Threshold: 2, Shares: 3})
	r.script([]string{"c1", "c2", "c3", "c1", "c2"}, append(append([]pinpad.Entry{ok}, r.cardSteps("c1", "c2", "c3")...), append([]pinpad.Entry{ok}, r.cardSteps("c1", "c2")...)...)...)
	r.run(gen)
	check("the generate")
	load := r.startLoad("load-pins", r.keySetOf(gen))
	r.script([]string{"c2", "c3"}, append([]pinpad.Entry{ok}, r.cardSteps("c2", "c3")...)...)
	r.run(load)
	check("the load")
}
