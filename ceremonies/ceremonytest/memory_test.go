package ceremonytest_test

import (
	"crypto/rand"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ceremony-hsm/ceremony/ceremonies/ceremonytest"
)

// TestCountInMemoryAcrossWindows: the scan reads memory in 1 MiB windows
// that overlap by the longest needle less one byte. A needle that only
// the next window holds whole is found there, a needle across a window's
// start is counted once, and a shorter needle in the overlap once, not
// twice.
func TestCountInMemoryAcrossWindows(t *testing.T) {
	long, short := make([]byte, 33), make([]byte, 8)
	rand.Read(long)
	rand.Read(short)
	region, err := unix.Mmap(-1, 0, 3<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(region)
	step := 1<<20 - len(long) + 1 // where the scan's second window starts
	put := func(at int, masked []byte) {
		for i, b := range masked {
			region[at+i] = b ^ ceremonytest.Mask
		}
	}
	if got := ceremonytest.CountInMemory(t, long, short); got[0] != 0 || got[1] != 0 {
		t.Fatalf("random needles are in memory %v times before they are put there", got)
	}
	put(step, long)       // past the first window's end: only in the second
	put(2*step+24, short) // in the overlap: whole in the second and third
	put(3*step-4, short)  // across the fourth window's start
	if got := ceremonytest.CountInMemory(t, long, short); got[0] != 1 || got[1] != 2 {
		t.Fatalf("counted %v, want [1 2]", got)
	}
}
