package secret

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"unsafe"
)

// smapsOf returns the /proc/self/smaps entry of the mapping that starts at
// b, nil if there is none.
func smapsOf(t *testing.T, b []byte) []byte {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	addr := uintptr(unsafe.Pointer(&b[0]))
	head := []byte(fmt.Sprintf("\n%x-", addr))
	i := bytes.Index(raw, head)
	if i < 0 {
		return nil
	}
	rest := raw[i:]
	if j := bytes.Index(rest, []byte("VmFlags:")); j >= 0 {
		if k := bytes.IndexByte(rest[j:], '\n'); k >= 0 {
			return rest[:j+k]
		}
	}
	return rest
}
