package backupkey_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/ceremonytest"
	"github.com/ceremony-hsm/ceremony/events"
)

// maskedRand yields the masked key, unmasked straight into the caller's
// buffer (the key's locked buffer), then crypto/rand.
type maskedRand struct {
	masked []byte
	used   bool
}

func (m *maskedRand) Read(p []byte) (int, error) {
	if !m.used && len(p) == len(m.masked) {
		m.used = true
		for i := range p {
			p[i] = m.masked[i] ^ ceremonytest.Mask
		}
		return len(p), nil
	}
	return rand.Read(p)
}

// countInMemory counts the unmasked needle in this process's memory.
func countInMemory(t *testing.T, masked []byte) int { return ceremonytest.CountInMemory(t, masked)[0] }

// witnessScan is the witness desk: at the sign-off prompt, with the key
// rebuilt and not yet loaded, it counts the key's copies.
type witnessScan struct {
	t      *testing.T
	masked []byte
	seen   []int
}

func (w *witnessScan) AskWitness(context.Context, int, int) (ceremonies.WitnessAnswer, error) {
	w.seen = append(w.seen, countInMemory(w.t, w.masked))
	return ceremonies.WitnessAnswer{Name: "Wendy Witness", Role: "auditor"}, nil
}

// TestKeyCopiesInProcessMemory generates a key set and loads it again in
// this process and counts the key's copies in its memory. The software
// HSM keeps the loaded key (one copy, in its locked buffer), as a real HSM
// keeps it outside the process. At the witness prompt of the load the
// rebuilt key adds exactly one copy, and none is left after the load.
//
// Shares and PINs are counted, after every card kind, by
// TestPINAndShareCopiesInProcessMemory (ceremonies/kinds).
func TestKeyCopiesInProcessMemory(t *testing.T) {
	r := newRig(t)
	// A longer liveness bound than the rig's: the memory scans outlast a
	// minute under the race detector on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	r.Ctx = ctx
	threeCards(r)
	masked := make([]byte, backupkey.KeyLen)
	rand.Read(masked)
	if n := countInMemory(t, masked); n != 0 {
		t.Fatalf("the key is in memory %d times before it is generated", n)
	}

	gen := r.StartGenerate("gen-mem", backupkey.Quorum{Threshold: 2, Shares: 3})
	r.Script([]string{"c1", "c2", "c3", "c1", "c2"}, append(append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2", "c3")...), append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2")...)...)...)
	run := r.runner(false)
	run.Rand = &maskedRand{masked: masked}
	if err := run.Run(r.Ctx, gen); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, gen, backupkey.PhaseCompleted)
	if n := countInMemory(t, masked); n != 1 {
		t.Fatalf("after the generate the key is in memory %d times, want 1 (the HSM's)", n)
	}

	load := r.StartLoad("load-mem", r.KeySetOf(gen))
	if err := load.Record(r.Ctx, events.SourceOperator, &events.WitnessesRequired{Count: 1}); err != nil {
		t.Fatal(err)
	}
	desk := &witnessScan{t: t, masked: masked}
	r.Script([]string{"c2", "c3"}, append([]pinpad.Entry{ok}, r.CardSteps("c2", "c3")...)...)
	lr := r.runner(false)
	lr.Station = &ceremonies.Station{Pad: r.Pad, Reader: r.Port, HSM: r.HSM, StepTimeout: 10 * time.Second, Witnesses: desk}
	if err := lr.Run(r.Ctx, load); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, load, backupkey.PhaseCompleted)
	if len(desk.seen) != 1 || desk.seen[0] != 2 {
		t.Fatalf("at the witness prompt the key is in memory %v times, want [2] (the HSM's and the rebuilt key)", desk.seen)
	}
	if n := countInMemory(t, masked); n != 1 {
		t.Fatalf("after the load the key is in memory %d times, want 1 (the HSM's)", n)
	}
}
