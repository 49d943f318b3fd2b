package pcscdtest

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// openscList runs `opensc-tool -l` against d and returns its output.
func openscList(t *testing.T, d *Daemon) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("opensc-tool"); err != nil {
		t.Fatalf("opensc-tool not found (Debian package opensc): %v", err)
	}
	cmd := exec.Command("opensc-tool", "-l")
	cmd.Env = append(os.Environ(), d.Env()...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func wantReaders(t *testing.T, d *Daemon) {
	t.Helper()
	out, err := openscList(t, d)
	if err != nil {
		t.Fatalf("opensc-tool -l: %v\n%s", err, out)
	}
	for i := range 2 {
		if !strings.Contains(out, ReaderName(i)) {
			t.Fatalf("opensc-tool -l does not list %q:\n%s", ReaderName(i), out)
		}
	}
}

func TestStartKillRestart(t *testing.T) {
	d := Start(t)
	if got := os.Getenv("PCSCLITE_CSOCK_NAME"); got != d.Socket {
		t.Errorf("PCSCLITE_CSOCK_NAME = %q, want %q", got, d.Socket)
	}
	if got, want := d.VpcdAddr(1), "127.0.0.1:"+strconv.Itoa(d.Port+1); got != want {
		t.Errorf("VpcdAddr(1) = %q, want %q", got, want)
	}
	wantReaders(t, d)

	d.Kill()
	if d.Running() {
		t.Fatal("pcscd still running after Kill")
	}
	start := time.Now()
	out, err := openscList(t, d)
	if err == nil && strings.Contains(out, ReaderName(0)) {
		t.Fatalf("opensc-tool -l still lists the readers after Kill:\n%s", out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("opensc-tool -l took %v after Kill, want a quick failure", d)
	}

	d.Restart(t)
	if !d.Running() {
		t.Fatal("pcscd not running after Restart")
	}
	wantReaders(t, d)
	if log := d.Log(); strings.Count(log, "daemon ready") != 2 {
		t.Errorf("log shows %d starts, want 2:\n%s", strings.Count(log, "daemon ready"), log)
	}
}

func TestTwoDaemonsDoNotCollide(t *testing.T) {
	a := Start(t)
	b := Start(t)
	if a.Dir == b.Dir || a.Socket == b.Socket {
		t.Fatalf("shared paths: %+v %+v", a, b)
	}
	if a.Port == b.Port || a.Port+1 == b.Port || b.Port+1 == a.Port {
		t.Fatalf("overlapping ports %d and %d", a.Port, b.Port)
	}
	wantReaders(t, a)
	wantReaders(t, b)
}

func TestCloseRemovesEverything(t *testing.T) {
	d, err := Launch()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Close (stat: %v)", d.Dir, err)
	}
	if d.Running() {
		t.Error("pcscd still running after Close")
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A vpcd port taken by someone else is detected (pcscd still says "daemon
// ready", without the reader), and Restart waits for the port to be free.
func TestPortInUse(t *testing.T) {
	d := Start(t)
	d.Kill()
	l, err := net.Listen("tcp", ":"+strconv.Itoa(d.Port+1))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.start(); !errors.Is(err, errPortInUse) {
		t.Fatalf("start with port %d taken: %v, want errPortInUse", d.Port+1, err)
	}
	if d.Running() {
		t.Fatal("pcscd left running after a failed start")
	}
	time.AfterFunc(500*time.Millisecond, func() { l.Close() })
	d.Restart(t)
	wantReaders(t, d)
}
