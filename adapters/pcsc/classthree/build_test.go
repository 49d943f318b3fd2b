package classthree

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBuildExportsTheIFDHandler compiles the driver and checks that it
// exports every entry point pcscd looks up (pcsc-lite ifdhandler.h, API
// v3).
func TestBuildExportsTheIFDHandler(t *testing.T) {
	lib, err := Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("nm", "-D", "--defined-only", lib).CombinedOutput()
	if err != nil {
		t.Fatalf("nm: %v\n%s", err, out)
	}
	for _, sym := range []string{"IFDHCreateChannelByName", "IFDHCreateChannel", "IFDHCloseChannel", "IFDHGetCapabilities",
		"IFDHSetCapabilities", "IFDHSetProtocolParameters", "IFDHPowerICC", "IFDHTransmitToICC", "IFDHICCPresence", "IFDHControl"} {
		if !strings.Contains(string(out), " T "+sym+"\n") {
			t.Errorf("%s does not export %s:\n%s", lib, sym, out)
		}
	}
}
