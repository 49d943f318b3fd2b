package secret

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHarden runs this test binary again: the child hardens itself and
// reports PR_GET_DUMPABLE and RLIMIT_CORE.
func TestHarden(t *testing.T) {
	if os.Getenv(envHelper) == "harden" {
		if err := Harden(); err != nil {
			os.Stdout.WriteString("harden: " + err.Error() + "\n")
			os.Exit(1)
		}
		d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		var lim unix.Rlimit
		if err != nil || d != 0 || unix.Getrlimit(unix.RLIMIT_CORE, &lim) != nil || lim.Cur != 0 || lim.Max != 0 {
			os.Stdout.WriteString("still dumpable or core limit not 0\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("hardened\n")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHarden$")
	cmd.Env = append(os.Environ(), envHelper+"=harden")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("hardened")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
