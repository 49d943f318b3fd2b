package backupkey_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
)

// maskedPIN is pin XOR mask, for countInMemory.
func maskedPIN(pin string) []byte {
	b := []byte(pin)
	for i := range b {
		b[i] ^= mask
	}
	return b
}

// maskedShare returns card name's share XOR mask, read from the card's
// image file (hex) straight into a locked buffer and masked there, so
// that the test makes no copy of the share.
func maskedShare(t *testing.T, r *rig, name string) []byte {
	t.Helper()
	img, err := os.ReadFile(filepath.Join(r.dir, "cards", name+".img"))
	if err != nil {
		t.Fatal(err)
	}
	var v []byte
	for _, key := range []string{`"0104": "`, `"0104":"`} {
		if i := bytes.Index(img, []byte(key)); i >= 0 {
			v = img[i+len(key):]
			v = v[:bytes.IndexByte(v, '"')]
			break
		}
	}
	if len(v) < 2*(28+4) {
		t.Fatalf("card %s holds no share record", name)
	}
	buf, err := secret.New(len(v) / 2)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Release()
	rec := buf.Bytes()
	if _, err := hex.Decode(rec, v); err != nil {
		t.Fatal(err)
	}
	for i := range rec {
		rec[i] ^= mask
	}
	l := int(rec[27] ^ mask) // the record's share length (record.go)
	return bytes.Clone(rec[28 : 28+l])
}

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
	r.ctx = ctx
	threeCards(r)
	names := []string{"c1", "c2", "c3"}
	pins := map[string][]byte{}
	for _, n := range names {
		pins[n] = maskedPIN(r.pins[n])
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
				shares[n] = maskedShare(t, r, n)
			}
			if got := countInMemory(t, shares[n]); got != 1 {
				t.Errorf("after %s the share of %s is in memory %d times, want 1 (the emulated card's)", after, n, got)
			}
		}
	}
	gen := r.startGenerate("gen-secrets", backupkey.Quorum{Threshold: 2, Shares: 3})
	r.script([]string{"c1", "c2", "c3", "c1", "c2"}, append(append([]pinpad.Entry{ok}, r.cardSteps("c1", "c2", "c3")...), append([]pinpad.Entry{ok}, r.cardSteps("c1", "c2")...)...)...)
	r.run(gen)
	check("the generate")
	load := r.startLoad("load-secrets", r.keySetOf(gen))
	r.script([]string{"c2", "c3"}, append([]pinpad.Entry{ok}, r.cardSteps("c2", "c3")...)...)
	r.run(load)
	check("the load")
}
