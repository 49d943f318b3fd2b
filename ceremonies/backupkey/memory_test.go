package backupkey_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
	"github.com/ceremony-hsm/ceremony/events"
)

// mask keeps the test's own knowledge of the key out of memory: the test
// holds key XOR mask only and never builds the key itself.
const mask = 0xA5

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
			p[i] = m.masked[i] ^ mask
		}
		return len(p), nil
	}
	return rand.Read(p)
}

// countInMemory counts the occurrences of the unmasked needle in this
// process's private writable memory (/proc/self/maps, read through
// /proc/self/mem). The scan's window is a locked buffer of its own, left
// out of the scan and wiped after.
func countInMemory(t *testing.T, masked []byte) int {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	const chunk = 1 << 20
	win, err := secret.New(chunk)
	if err != nil {
		t.Fatal(err)
	}
	defer win.Release()
	buf := win.Bytes()
	own := fmt.Sprintf("%x-", uintptr(ptrOf(buf)))
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[1] != "rw-p" || strings.HasPrefix(sc.Text(), own) {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("maps line %q", sc.Text())
		}
		step := uint64(chunk - len(masked) + 1) // windows overlap by len-1
		for off := start; off < end; off += step {
			size := min(uint64(chunk), end-off)
			got, err := mem.ReadAt(buf[:size], int64(off))
			if err != nil && err != io.EOF {
				break // a region the kernel will not read (guard pages)
			}
			n += countMasked(buf[:got], masked)
			if off+size >= end {
				break
			}
		}
	}
	secret.Wipe(buf)
	return n
}

func countMasked(hay, masked []byte) int {
	n := 0
	for i := 0; i+len(masked) <= len(hay); i++ {
		if hay[i]^mask != masked[0] {
			continue
		}
		j := 1
		for j < len(masked) && hay[i+j]^mask == masked[j] {
			j++
		}
		if j == len(masked) {
			n++
		}
	}
	return n
}

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
// Shares and PINs are not asserted here: the card transport (APDU buffers
// in the openpgp client, the emulated card and the rehearsal reader) and
// the scripted PIN pad keep copies in ordinary heap memory; see the
// README, "Secrets in memory".
func TestKeyCopiesInProcessMemory(t *testing.T) {
	r := newRig(t)
	// A longer liveness bound than the rig's: the memory scans outlast a
	// minute under the race detector on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	r.ctx = ctx
	threeCards(r)
	masked := make([]byte, backupkey.KeyLen)
	rand.Read(masked)
	if n := countInMemory(t, masked); n != 0 {
		t.Fatalf("the key is in memory %d times before it is generated", n)
	}

	gen := r.startGenerate("gen-mem", backupkey.Quorum{Threshold: 2, Shares: 3})
	r.script([]string{"c1", "c2", "c3", "c1", "c2"}, append(append([]pinpad.Entry{ok}, r.cardSteps("c1", "c2", "c3")...), append([]pinpad.Entry{ok}, r.cardSteps("c1", "c2")...)...)...)
	run := r.runner(false)
	run.Rand = &maskedRand{masked: masked}
	if err := run.Run(r.ctx, gen); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, gen, backupkey.PhaseCompleted)
	if n := countInMemory(t, masked); n != 1 {
		t.Fatalf("after the generate the key is in memory %d times, want 1 (the HSM's)", n)
	}

	load := r.startLoad("load-mem", r.keySetOf(gen))
	if err := load.Record(r.ctx, events.SourceOperator, &events.WitnessesRequired{Count: 1}); err != nil {
		t.Fatal(err)
	}
	desk := &witnessScan{t: t, masked: masked}
	r.script([]string{"c2", "c3"}, append([]pinpad.Entry{ok}, r.cardSteps("c2", "c3")...)...)
	lr := r.runner(false)
	lr.Station = &ceremonies.Station{Pad: r.pad, Reader: r.port, HSM: r.hsm, StepTimeout: 10 * time.Second, Witnesses: desk}
	if err := lr.Run(r.ctx, load); err != nil {
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
