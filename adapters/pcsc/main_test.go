package pcsc

import (
	"os"
	"sync"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
)

// The package's private pcscd (pcscdtest, two vpcd readers). pcsc-lite's
// client library reads PCSCLITE_CSOCK_NAME once per process, at the first
// PC/SC call, so there is one daemon per test binary: it is launched by the
// first test that needs it (before any PC/SC call: tests that do not need
// pcscd must make none) and stopped by TestMain. With -count=N the later
// runs reuse it. Tests that Kill it must not run in parallel with others
// using it.
var (
	daemonOnce sync.Once
	daemon     *pcscdtest.Daemon
	daemonErr  error
)

// testDaemon returns the package's pcscd, launching it on first use and
// restarting it if a previous test left it killed. It prints pcscd's log
// if t fails.
func testDaemon(t *testing.T) *pcscdtest.Daemon {
	t.Helper()
	daemonOnce.Do(func() { daemon, daemonErr = pcscdtest.Launch() })
	if daemonErr != nil {
		t.Fatalf("pcscdtest: %v", daemonErr)
	}
	if !daemon.Running() {
		daemon.Restart(t)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pcscd log %s:\n%s", daemon.Dir, daemon.Log())
		}
	})
	return daemon
}

func TestMain(m *testing.M) {
	code := m.Run()
	if daemon != nil {
		if err := daemon.Close(); err != nil && code == 0 {
			os.Stderr.WriteString(err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
