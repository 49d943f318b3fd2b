package classthree

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed ifd/ifd-classthree.c
var source []byte

// Source is the driver's C source (ifd/ifd-classthree.c).
func Source() []byte { return append([]byte(nil), source...) }

// Header is pcsc-lite's IFD handler header (Debian package
// libpcsclite-dev).
const Header = "/usr/include/PCSC/ifdhandler.h"

// LibName is the file name Build gives the driver.
const LibName = "libifdclassthree.so"

// FriendlyName is the reader name Conf gives; pcscd names the reader
// "<FriendlyName> 00 00".
const FriendlyName = "Virtual PIN pad reader"

// The IOCTL codes the driver lists for its features: SCARD_CTL_CODE(3400 +
// tag) as pcsc-lite's reader.h defines it on Linux (0x42000000 + code).
const (
	IOCTLVerify     uint32 = 0x42000000 + 3400 + 0x06
	IOCTLModify     uint32 = 0x42000000 + 3400 + 0x07
	IOCTLProperties uint32 = 0x42000000 + 3400 + 0x0A
)

// Build compiles the driver with gcc into dir and returns the library's
// path. It fails naming the Debian package of what is missing (gcc,
// libpcsclite-dev), and with gcc's output if the compilation fails.
func Build(dir string) (string, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("classthree: gcc not found (install the Debian package gcc): %w", err)
	}
	if _, err := os.Stat(Header); err != nil {
		return "", fmt.Errorf("classthree: %s missing (install the Debian package libpcsclite-dev): %w", Header, err)
	}
	src := filepath.Join(dir, "ifd-classthree.c")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return "", fmt.Errorf("classthree: write the driver source: %w", err)
	}
	lib := filepath.Join(dir, LibName)
	cmd := exec.Command(gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror",
		"-I"+filepath.Dir(Header), "-o", lib, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("classthree: gcc %s: %w\n%s", src, err, strings.TrimSpace(string(out)))
	}
	return lib, nil
}

// Conf returns the reader.conf entry (pcscd -c DIR reads every file of
// DIR) of one reader of the driver at lib, listening on 127.0.0.1:port.
func Conf(lib string, port int) string {
	return fmt.Sprintf("FRIENDLYNAME %q\nDEVICENAME /dev/null:%d\nLIBPATH %s\n", FriendlyName, port, lib)
}
