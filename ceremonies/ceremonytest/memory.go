package ceremonytest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
)

// Mask keeps a test's own knowledge of a secret out of the memory it
// scans: the test holds secret XOR Mask only, never the secret itself
// where it can help it.
const Mask = 0xA5

// Masked is s XOR Mask, for CountInMemory.
func Masked(s string) []byte {
	b := []byte(s)
	for i := range b {
		b[i] ^= Mask
	}
	return b
}

// MaskedShare returns the share XOR Mask that card name holds, read from
// the card's image file (hex) straight into a locked buffer and masked
// there, so that the test makes no copy of the share.
func (r *Rig) MaskedShare(name string) []byte {
	r.T.Helper()
	img, err := os.ReadFile(filepath.Join(r.Dir, "cards", name+".img"))
	if err != nil {
		r.T.Fatal(err)
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
		r.T.Fatalf("card %s holds no share record", name)
	}
	buf, err := secret.New(len(v) / 2)
	if err != nil {
		r.T.Fatal(err)
	}
	defer buf.Release()
	rec := buf.Bytes()
	if _, err := hex.Decode(rec, v); err != nil {
		r.T.Fatal(err)
	}
	for i := range rec {
		rec[i] ^= Mask
	}
	l := int(rec[27] ^ Mask) // the record's share length (backupkey/record.go)
	secret.Wipe(img)
	return bytes.Clone(rec[28 : 28+l])
}

// CountInMemory counts the occurrences of each unmasked needle in this
// process's private writable memory (/proc/self/maps, read through
// /proc/self/mem), in one pass. The scan's window is a locked buffer of
// its own, left out of the scan, masked in place before it is searched
// (so the search compares masked bytes only) and wiped after.
func CountInMemory(t testing.TB, masked ...[]byte) []int {
	t.Helper()
	longest := 1
	for _, m := range masked {
		if len(m) == 0 {
			t.Fatal("CountInMemory: an empty needle")
		}
		longest = max(longest, len(m))
	}
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
	own := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	n := make([]int, len(masked))
	step := uint64(chunk - longest + 1) // windows overlap by longest-1
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
		for off := start; off < end; off += step {
			size := min(uint64(chunk), end-off)
			got, err := mem.ReadAt(buf[:size], int64(off))
			if err != nil && err != io.EOF {
				break // a region the kernel will not read (guard pages)
			}
			last := off+size >= end
			for i := range buf[:got] {
				buf[i] ^= Mask
			}
			for j, m := range masked {
				// Only matches that start in this window's own part: the
				// next window has the overlap again.
				lim := got
				if !last {
					lim = min(got, int(step)+len(m)-1)
				}
				n[j] += bytes.Count(buf[:lim], m)
			}
			if last {
				break
			}
		}
	}
	secret.Wipe(buf)
	return n
}
