// Package softhsmtest makes throwaway SoftHSM2 tokens for tests.
//
// Rules a caller must know:
//   - New creates a token directory and a softhsm2.conf under t.TempDir()
//     and points SOFTHSM2_CONF at it with t.Setenv, so a test using it
//     cannot call t.Parallel. SoftHSM2 reads SOFTHSM2_CONF when its module
//     is initialised: a test that needs two tokens at once makes the
//     second with Add, which shares the first one's configuration.
//   - PINs are random per token; Config reads the PIN from a file (mode
//     0600) in the token's directory.
//   - A missing softhsm2-util or SoftHSM2 module fails the test (t.Fatalf,
//     never a skip), naming the Debian package to install.
//   - GenerateECKey, GenerateRSAKey, GenerateAESKey and ImportAESKey put
//     extractable (AES: optionally) token keys on an open
//     pkcs11hsm.HSM; Sign, Verify and EncryptBlock use them inside the
//     HSM, finding them by CKA_ID; all go through HSM.WithSession.
package softhsmtest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
)

// ModulePaths are where the SoftHSM2 module is looked for, in order.
var ModulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Token is one initialised SoftHSM2 token.
type Token struct {
	Module  string // path of libsofthsm2.so
	Label   string // token label
	Serial  string // token serial, as C_GetTokenInfo reports it
	PIN     string // user PIN (a throwaway)
	SOPIN   string // security officer PIN (a throwaway)
	Dir     string // directory holding Conf, the token directory and PIN files
	Conf    string // the softhsm2.conf SOFTHSM2_CONF points at
	PINFile string // file holding PIN, mode 0600
}

// New initialises a token labelled label in a fresh SoftHSM2
// configuration under t.TempDir() and sets SOFTHSM2_CONF to it.
func New(t testing.TB, label string) *Token {
	t.Helper()
	module := findModule(t)
	util := findUtil(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatalf("softhsmtest: make the token directory: %v", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatalf("softhsmtest: write %s: %v", conf, err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	base := &Token{Module: module, Dir: dir, Conf: conf}
	return base.init(t, util, label)
}

// Add initialises another token labelled label in tk's configuration, so
// one initialisation of the module sees both.
func (tk *Token) Add(t testing.TB, label string) *Token {
	t.Helper()
	return tk.init(t, findUtil(t), label)
}

// Config is a pkcs11hsm.Config for the token, by label, with the PIN
// from a file.
func (tk *Token) Config() pkcs11hsm.Config {
	return pkcs11hsm.Config{
		Module: tk.Module,
		Token:  tk.Label,
		PIN:    pkcs11hsm.PINSource{File: tk.PINFile},
	}
}

func (tk *Token) init(t testing.TB, util, label string) *Token {
	t.Helper()
	n := &Token{Module: tk.Module, Dir: tk.Dir, Conf: tk.Conf, Label: label, PIN: randomPIN(t), SOPIN: randomPIN(t)}
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--so-pin", n.SOPIN, "--pin", n.PIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+tk.Conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("softhsmtest: softhsm2-util --init-token --label %q: %v\n%s", label, err, out)
	}
	// "The token has been initialized and is reassigned to slot 1370372305"
	_, slot, ok := strings.Cut(strings.TrimSpace(string(out)), "reassigned to slot ")
	if !ok || slot == "" {
		t.Fatalf("softhsmtest: softhsm2-util --init-token did not say which slot it used:\n%s", out)
	}
	n.Serial = serialOf(t, util, tk.Conf, label, slot)
	n.PINFile = filepath.Join(tk.Dir, "pin-"+n.Serial)
	if err := os.WriteFile(n.PINFile, []byte(n.PIN+"\n"), 0o600); err != nil {
		t.Fatalf("softhsmtest: write the PIN file: %v", err)
	}
	return n
}

// serialOf reads `softhsm2-util --show-slots` and returns the serial of
// the token in slot, checking it is labelled label.
func serialOf(t testing.TB, util, conf, label, slot string) string {
	t.Helper()
	cmd := exec.Command(util, "--show-slots")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("softhsmtest: softhsm2-util --show-slots: %v\n%s", err, out)
	}
	inSlot := false
	serial := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "Slot "); ok && !strings.Contains(line, ":") {
			inSlot = rest == slot
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !inSlot || !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "Serial number":
			serial = value
		case "Label":
			if value != label || serial == "" {
				t.Fatalf("softhsmtest: slot %s holds %q (serial %q), not the token %q just initialised:\n%s", slot, value, serial, label, out)
			}
			return serial
		}
	}
	t.Fatalf("softhsmtest: slot %s not in softhsm2-util --show-slots:\n%s", slot, out)
	return ""
}

func findModule(t testing.TB) string {
	t.Helper()
	for _, p := range ModulePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("softhsmtest: the SoftHSM2 PKCS#11 module is not installed (looked in %s): install the Debian package softhsm2 (apt-get install softhsm2)",
		strings.Join(ModulePaths, ", "))
	return ""
}

func findUtil(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Fatalf("softhsmtest: softhsm2-util is not on PATH: install the Debian package softhsm2 (apt-get install softhsm2): %v", err)
	}
	return p
}

func randomPIN(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("softhsmtest: random PIN: %v", err)
	}
	return hex.EncodeToString(b)
}
