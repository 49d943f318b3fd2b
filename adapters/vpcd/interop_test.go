package vpcd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
)

// daemon is the private pcscd of this test binary (TestMain).
var daemon *pcscdtest.Daemon

func TestMain(m *testing.M) {
	d, err := pcscdtest.Launch()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vpcd tests: start a private pcscd: %v\n", err)
		os.Exit(1)
	}
	daemon = d
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "pcscd log:\n%s\n", d.Log())
	}
	if err := d.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "vpcd tests: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Test card: 8-digit PINs and a 16-byte secret in private DO 0104.
const (
	testSerial = 0x00C0FFEE
	testPW1    = "12345678"
	testPW3    = "87654321"
	newPW1     = "24681357"
)

var testSecret = []byte{0x5E, 0xC2, 0xE7, 0x00, 0x01, 0x02, 0x03, 0x04, 0xA5, 0x5A, 0xFF, 0x10, 0x20, 0x30, 0x40, 0x50}

// newCard creates the test card and writes testSecret to DO 0104 over the
// in-process cardemu.Reader (PW3 verified), then takes it out of that
// reader so that it can go into vpcd.
func newCard(t *testing.T) *cardemu.Card {
	t.Helper()
	card, err := cardemu.Create(filepath.Join(t.TempDir(), "card.json"), cardemu.Options{
		Serial: testSerial, PW1: []byte(testPW1), PW3: []byte(testPW3),
	})
	if err != nil {
		t.Fatalf("create card: %v", err)
	}
	r := cardemu.NewReader("setup")
	if err := r.Insert(card); err != nil {
		t.Fatalf("insert into the in-process reader: %v", err)
	}
	defer r.Remove()
	c := openpgp.NewClient(r.Transport())
	if err := c.Select(); err != nil {
		t.Fatalf("select: %v", err)
	}
	if err := c.Verify(openpgp.PW3, []byte(testPW3)); err != nil {
		t.Fatalf("verify PW3: %v", err)
	}
	if err := c.WritePrivateDO(0x0104, testSecret); err != nil {
		t.Fatalf("write DO 0104: %v", err)
	}
	return card
}

// insert puts card into vpcd reader 0 and removes it at the end of the test.
func insert(t *testing.T, card *cardemu.Card) *Inserted {
	t.Helper()
	in, err := Insert(t.Context(), daemon.VpcdAddr(0), card)
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	t.Cleanup(func() { in.Remove() })
	return in
}

// tool runs a command against the private pcscd and returns its combined
// output. A missing program fails the test naming its Debian package.
func tool(t *testing.T, env []string, pkg, name string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found: install the Debian package %s: %v", name, pkg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), daemon.Env()...), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func opensc(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return tool(t, nil, "opensc", "opensc-tool", args...)
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last output:\n%s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readerLine returns the opensc-tool -l line of reader 0.
func readerLine(out string) string {
	for line := range strings.Lines(out) {
		if strings.Contains(line, pcscdtest.ReaderName(0)) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// cardPresent reports whether opensc-tool -l shows a card in reader 0
// ("0    Yes  ..." versus "0    No  ...").
func cardPresent(t *testing.T) (bool, string) {
	out, err := opensc(t, "-l")
	if err != nil {
		return false, out
	}
	f := strings.Fields(readerLine(out))
	return len(f) > 1 && f[1] == "Yes", out
}

func waitPresent(t *testing.T) {
	t.Helper()
	waitFor(t, "opensc-tool -l shows the card in "+pcscdtest.ReaderName(0), 5*time.Second, func() (bool, string) { return cardPresent(t) })
}

// normHex lower-cases s and drops separators, so that "3b:da:..." and
// "3B DA ..." compare equal.
func normHex(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
}

// wantAll fails t if out lacks one of the substrings.
func wantAll(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("%s: output lacks %q:\n%s", what, s, out)
		}
	}
}

func TestOpenSCTool(t *testing.T) {
	card := newCard(t)
	insert(t, card)
	waitPresent(t)

	out, err := opensc(t, "-l")
	if err != nil {
		t.Fatalf("opensc-tool -l: %v\n%s", err, out)
	}
	if f := strings.Fields(readerLine(out)); len(f) < 2 || f[1] != "Yes" {
		t.Errorf("opensc-tool -l: want %q with a card:\n%s", pcscdtest.ReaderName(0), out)
	}

	out, err = opensc(t, "-r", pcscdtest.ReaderName(0), "-a")
	if err != nil {
		t.Fatalf("opensc-tool -a: %v\n%s", err, out)
	}
	if got, want := normHex(strings.TrimSpace(out)), hex.EncodeToString(card.ATR()); !strings.Contains(got, want) {
		t.Errorf("opensc-tool -a printed %q, want the emulator's ATR %s", strings.TrimSpace(out), want)
	}
}

func TestOpenPGPTool(t *testing.T) {
	card := newCard(t)
	insert(t, card)
	waitPresent(t)
	openpgpTool := func(args ...string) string {
		t.Helper()
		out, err := tool(t, nil, "opensc", "openpgp-tool", args...)
		if err != nil {
			t.Fatalf("openpgp-tool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	out := openpgpTool("-C")
	wantAll(t, "openpgp-tool -C", out,
		"AID:             d2:76:00:01:24:01:03:04:ff:fe:00:c0:ff:ee:00:00",
		"Version:         3.4",
		"Serial number:   00C0FFEE")

	// With no options it reads 5E, 5F50, the children of 65, 0101 and 0102.
	openpgpTool()

	out = openpgpTool("--verify", "CHV3", "--pin", testPW3, "--do", "0104")
	if want := fmt.Sprintf("% X", testSecret); !strings.Contains(out, want) {
		t.Errorf("openpgp-tool --do 0104: want the bytes written, %s:\n%s", want, out)
	}
}

// gnupgHome makes a throwaway GNUPGHOME whose scdaemon uses the private
// pcscd in shared mode, and kills its gpg-agent and scdaemon at the end
// (printing scdaemon's log if t failed). It returns the environment for
// gpg.
func gnupgHome(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(home, "scdaemon.log")
	// debug-level guru would log every APDU, PINs included: use it only by
	// hand when chasing an emulator bug.
	conf := "disable-ccid\npcsc-shared\npcsc-driver libpcsclite.so.1\nverbose\nlog-file " + logFile + "\n"
	if err := os.WriteFile(filepath.Join(home, "scdaemon.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() {
		if out, err := tool(t, env, "gnupg", "gpgconf", "--kill", "all"); err != nil {
			t.Errorf("gpgconf --kill all: %v\n%s", err, out)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("scdaemon log:\n%s", b)
		}
	})
	return env
}

func TestGnuPG(t *testing.T) {
	if _, err := os.Stat("/usr/lib/gnupg/scdaemon"); err != nil {
		t.Fatalf("scdaemon not found: install the Debian package scdaemon: %v", err)
	}
	card := newCard(t)
	in := insert(t, card)
	waitPresent(t)
	env := gnupgHome(t)

	out, err := tool(t, env, "gnupg", "gpg", "--batch", "--card-status")
	if err != nil {
		t.Fatalf("gpg --card-status: %v\n%s", err, out)
	}
	wantAll(t, "gpg --card-status", out,
		"Reader ...........: "+pcscdtest.ReaderName(0),
		"Application ID ...: D276000124010304FFFE00C0FFEE0000",
		"Version ..........: 3.4",
		"Serial number ....: 00C0FFEE",
		"PIN retry counter : 3 0 3")

	// passwd in --card-edit changes PW1. --batch refuses it ("can't do this
	// in batch mode"), so: --no-tty, commands and the three PIN prompts
	// (old, new, repeat: GET_HIDDEN passphrase.enter with loopback pinentry)
	// all read from fd 0.
	cmd := exec.Command("gpg", "--no-tty", "--command-fd", "0", "--status-fd", "1",
		"--pinentry-mode", "loopback", "--card-edit")
	cmd.Env = append(append(os.Environ(), daemon.Env()...), env...)
	cmd.Stdin = strings.NewReader("passwd\n" + testPW1 + "\n" + newPW1 + "\n" + newPW1 + "\nquit\n")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gpg --card-edit passwd: %v\n%s", err, b)
	}
	wantAll(t, "gpg --card-edit passwd", string(b), "[GNUPG:] SC_OP_SUCCESS")
	if _, err := tool(t, env, "gnupg", "gpgconf", "--kill", "all"); err != nil {
		t.Fatalf("gpgconf --kill all: %v", err)
	}

	// The new PW1 (82) verifies over pcscd; openpgp-tool exits 0 only then.
	out, err = tool(t, nil, "opensc", "openpgp-tool", "--verify", "CHV2", "--pin", newPW1)
	if err != nil {
		t.Fatalf("openpgp-tool --verify CHV2 with the new PW1: %v\n%s", err, out)
	}

	// And the card's memory holds it: out of vpcd, into the in-process reader.
	if err := in.Remove(); err != nil {
		t.Fatal(err)
	}
	r := cardemu.NewReader("check")
	if err := r.Insert(card); err != nil {
		t.Fatal(err)
	}
	defer r.Remove()
	c := openpgp.NewClient(r.Transport())
	if err := c.Select(); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(openpgp.PW1, []byte(newPW1)); err != nil {
		t.Fatalf("verify the new PW1 in-process: %v", err)
	}
	if err := c.Verify(openpgp.PW1, []byte(testPW1)); !errors.Is(err, openpgp.ErrWrongPIN) {
		t.Fatalf("verify the old PW1: got %v, want ErrWrongPIN", err)
	}
}

func TestRemoveEmptiesTheReader(t *testing.T) {
	card := newCard(t)
	in := insert(t, card)
	waitPresent(t)
	if err := in.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	select {
	case <-in.Done():
	default:
		t.Fatal("Done not closed after Remove")
	}
	if err := in.Err(); err != nil {
		t.Errorf("Err after Remove = %v, want nil", err)
	}
	waitFor(t, "opensc-tool -l shows "+pcscdtest.ReaderName(0)+" empty", 5*time.Second, func() (bool, string) {
		present, out := cardPresent(t)
		return !present && readerLine(out) != "", out
	})
	// The card can go in again.
	insert(t, card)
	waitPresent(t)
}

func TestPcscdKilledAndRestarted(t *testing.T) {
	card := newCard(t)
	in := insert(t, card)
	waitPresent(t)

	daemon.Kill()
	select {
	case <-in.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end within 5 s of killing pcscd")
	}
	if err := in.Err(); !errors.Is(err, ErrReaderGone) {
		t.Errorf("Err after pcscd was killed = %v, want ErrReaderGone", err)
	}

	daemon.Restart(t)
	insert(t, card)
	waitPresent(t)
	out, err := tool(t, nil, "opensc", "openpgp-tool", "-C")
	if err != nil {
		t.Fatalf("openpgp-tool -C after restart: %v\n%s", err, out)
	}
	wantAll(t, "openpgp-tool -C after restart", out, "Serial number:   00C0FFEE")
}

// TestAPDULatency guards TCP_QUICKACK: without it every APDU waits for a
// delayed ACK (51 APDUs took 4.2 s instead of 0.04 s).
func TestAPDULatency(t *testing.T) {
	insert(t, newCard(t))
	waitPresent(t)
	args := []string{"-r", pcscdtest.ReaderName(0), "-s", "00A4040006D27600012401"}
	for range 50 {
		args = append(args, "-s", "00CA004F00")
	}
	start := time.Now()
	out, err := opensc(t, args...)
	if err != nil {
		t.Fatalf("opensc-tool -s: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("51 APDUs through pcscd took %v, want well under 1.5 s (is TCP_QUICKACK set?)", d)
	}
	if n := strings.Count(out, "SW1=0x90, SW2=0x00"); n != 51 {
		t.Errorf("opensc-tool -s: %d of 51 APDUs answered 9000:\n%s", n, out)
	}
}
