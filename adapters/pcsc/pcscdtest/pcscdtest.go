// Package pcscdtest runs a private pcscd (pcsc-lite 1.9.9) with two
// vsmartcard vpcd readers, and on request a virtual class-3 PIN pad reader
// (adapters/pcsc/classthree), for tests and for CI: no hardware, no system
// pcscd, no root-owned socket. Cards are plugged into its readers over TCP
// (package adapters/vpcd; InsertWithKeypad for the PIN pad reader).
//
// What Start does:
//
//   - makes a unique directory DIR (os.MkdirTemp, "pcscdtest-*"), writes
//     DIR/reader.conf.d/vpcd (FRIENDLYNAME "Virtual PCD", DEVICENAME
//     /dev/null:PORT, LIBPATH of the vpcd driver), which gives the readers
//     "Virtual PCD 00 00" on TCP PORT and "Virtual PCD 00 01" on PORT+1;
//   - with Options.ClassThree (StartWith, LaunchWith), also compiles the
//     classthree driver with gcc into DIR and writes
//     DIR/reader.conf.d/classthree, which gives the reader ClassThreeReader
//     on 127.0.0.1:PORT+2 (ClassThreeAddr);
//   - creates the listening unix socket DIR/pcscd.comm and runs
//     /bin/sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" --foreground
//     --info -c "$1"' /usr/sbin/pcscd DIR/reader.conf.d with that socket on
//     fd 3 and LISTEN_FDS=1 in the environment. This is systemd socket
//     activation: pcscd 1.9.9 ignores PCSCLITE_CSOCK_NAME for its own socket
//     but takes a handed-over one if LISTEN_PID is its own pid, hence the
//     shell that execs it. -c names the reader.conf.d directory;
//   - waits until pcscd logs "daemon ready" with both vpcd readers up. A
//     port taken by someone else still gives "daemon ready", but with "Could
//     not initialize connection" and no readers: Start then picks other
//     ports and tries again;
//   - sets PCSCLITE_CSOCK_NAME=DIR/pcscd.comm in this process's
//     environment (the daemon started last wins).
//
// Rules a caller must know:
//
//   - pcsc-lite's client library reads PCSCLITE_CSOCK_NAME once per process,
//     at the first PC/SC call. A process that talks PC/SC in-process (cgo,
//     github.com/ebfe/scard) must start the daemon before that first call:
//     from TestMain, with Launch (Start needs a testing.TB, which TestMain
//     does not have). One daemon per test binary, then.
//   - Subprocesses (opensc-tool, openpgp-tool, gpg-agent's scdaemon) find the
//     daemon through the environment: pass append(os.Environ(), d.Env()...)
//     or rely on the os.Setenv done here. gpg-agent keeps the environment it
//     was started with: use a fresh GNUPGHOME per daemon.
//   - pcscd writes its pid file to the fixed path /run/pcscd/pcscd.pid (it
//     cannot be moved); Start creates /run/pcscd if missing, which needs the
//     right to do so (root in CI). Several private daemons overwrite each
//     other's pid file; nothing here reads it. Do not run a system pcscd's
//     `pcscd -H` against them.
//   - Two test runs on one machine do not collide: each has its own
//     directory, socket and ports.
//   - vpcd listens on 0.0.0.0 (its driver has no option for the address):
//     anyone who reaches the port can put a card into the reader. Use it
//     on a test machine or CI runner, not on a shared network.
//   - pcscd runs at log level info and never with --apdu: APDUs (PINs,
//     secrets) never reach the log. The log is DIR/pcscd.log; Start's
//     cleanup prints it when the test failed.
//   - Kill sends SIGKILL and removes the socket file: PC/SC clients then
//     fail (SCARD_E_NO_SERVICE) instead of hanging, cards in the vpcd
//     readers see their connections closed. Restart brings pcscd back on
//     the same socket path and ports; clients must establish a new context.
//   - The packages needed are pcscd and vsmartcard-vpcd, and for the
//     class-3 reader gcc and libpcsclite-dev; a missing one makes Start
//     fail naming it.
package pcscdtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pcsc/classthree"
)

// Fixed paths of the Debian packages used.
const (
	// DriverPath is the vpcd reader driver (Debian package vsmartcard-vpcd).
	DriverPath = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
	// RunDir must exist for pcscd's pid file.
	RunDir       = "/run/pcscd"
	readerPrefix = "Virtual PCD 00 0" // see ReaderName
)

// Startup limits.
const (
	readyTimeout = 15 * time.Second
	portAttempts = 8
	stopGrace    = 5 * time.Second
)

// ClassThreeReader is the PC/SC name of the class-3 PIN pad reader
// (Options.ClassThree).
const ClassThreeReader = classthree.FriendlyName + " 00 00"

// Options choose the readers besides the two vpcd ones.
type Options struct {
	// ClassThree adds the virtual class-3 PIN pad reader
	// (adapters/pcsc/classthree), built with gcc at Launch.
	ClassThree bool
}

// Daemon is a running (or killed) private pcscd.
type Daemon struct {
	Dir    string // private directory: reader.conf.d/, pcscd.comm, pcscd.log
	Socket string // pcscd's unix socket (PCSCLITE_CSOCK_NAME)
	// Port is the vpcd base port: reader "Virtual PCD 00 00" listens on
	// Port, "Virtual PCD 00 01" on Port+1 (TCP, all addresses).
	Port int

	opts       Options
	classThree string // the built class-3 driver, with Options.ClassThree

	mu   sync.Mutex
	cmd  *exec.Cmd     // the running pcscd, nil after Kill or Close
	done chan struct{} // closed when cmd has exited
}

// ReaderName returns the PC/SC name of vpcd reader i (0 or 1), e.g.
// "Virtual PCD 00 00".
func ReaderName(i int) string { return readerPrefix + strconv.Itoa(i) }

// Start starts a private pcscd for the test t (see the package
// documentation), registers a cleanup that stops it and removes its
// directory, and prints pcscd's log if t failed. It fails t if pcscd cannot
// be started. It sets PCSCLITE_CSOCK_NAME in this process; for in-process
// PC/SC use Launch from TestMain instead.
func Start(t testing.TB) *Daemon {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with more readers (Options).
func StartWith(t testing.TB, o Options) *Daemon {
	t.Helper()
	d, err := LaunchWith(o)
	if err != nil {
		t.Fatalf("pcscdtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pcscd log %s:\n%s", d.logPath(), d.Log())
		}
		if err := d.Close(); err != nil {
			t.Errorf("pcscdtest: %v", err)
		}
	})
	return d
}

// Launch is Start for callers without a testing.TB (TestMain, CI tools):
// the caller must call Close, and should print Log when something failed.
// On error nothing is left behind and the error includes pcscd's log.
func Launch() (*Daemon, error) { return LaunchWith(Options{}) }

// LaunchWith is Launch with more readers (Options).
func LaunchWith(o Options) (*Daemon, error) {
	if err := checkInstalled(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s (pcscd writes its pid file there; run as root or create it once): %w", RunDir, err)
	}
	dir, err := os.MkdirTemp("", "pcscdtest-")
	if err != nil {
		return nil, fmt.Errorf("create the daemon directory: %w", err)
	}
	d := &Daemon{Dir: dir, Socket: filepath.Join(dir, "pcscd.comm"), opts: o}
	if len(d.Socket) >= 108 {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("socket path %s is %d bytes, a unix socket path must be under 108: set TMPDIR to a shorter directory", d.Socket, len(d.Socket))
	}
	if err := os.Mkdir(d.confDir(), 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create %s: %w", d.confDir(), err)
	}
	if o.ClassThree {
		if d.classThree, err = classthree.Build(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	var lastErr error
	for range portAttempts {
		port, err := freePorts(3)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		d.Port = port
		lastErr = d.start()
		if lastErr == nil {
			if err := os.Setenv("PCSCLITE_CSOCK_NAME", d.Socket); err != nil {
				d.Close()
				return nil, fmt.Errorf("set PCSCLITE_CSOCK_NAME: %w", err)
			}
			return d, nil
		}
		if !errors.Is(lastErr, errPortInUse) {
			break
		}
	}
	log := d.Log()
	os.RemoveAll(dir)
	return nil, fmt.Errorf("%w\npcscd log:\n%s", lastErr, log)
}

// ClassThreeAddr returns the TCP address of the class-3 PIN pad reader
// (Options.ClassThree), for vpcd.InsertWithKeypad: "127.0.0.1:<Port+2>".
func (d *Daemon) ClassThreeAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.Port+2))
}

// VpcdAddr returns the TCP address of vpcd reader i (0 or 1):
// "127.0.0.1:<Port+i>".
func (d *Daemon) VpcdAddr(reader int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.Port+reader))
}

// Env returns the environment entries a subprocess needs to reach this
// pcscd: PCSCLITE_CSOCK_NAME=<Socket>.
func (d *Daemon) Env() []string {
	return []string{"PCSCLITE_CSOCK_NAME=" + d.Socket}
}

// Log returns what pcscd has logged so far (all runs, Restart included).
func (d *Daemon) Log() string {
	b, err := os.ReadFile(d.logPath())
	if err != nil {
		return fmt.Sprintf("(no pcscd log: %v)", err)
	}
	return string(b)
}

// Kill sends SIGKILL to pcscd now, waits for it to die and removes its
// socket file, so that PC/SC clients fail at once. Cards in the vpcd readers
// see their connections closed. It does nothing if pcscd is not running.
func (d *Daemon) Kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked(syscall.SIGKILL, 0)
	os.Remove(d.Socket)
}

// Restart starts pcscd again, after Kill (or while it runs: it is killed
// first), on the same socket path and ports. It fails t if pcscd does not
// come back with both readers within the startup timeout (ports left in
// TIME_WAIT by the killed daemon are waited for).
func (d *Daemon) Restart(t testing.TB) {
	t.Helper()
	d.Kill()
	deadline := time.Now().Add(readyTimeout)
	for {
		err := d.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errPortInUse) || time.Now().After(deadline) {
			t.Fatalf("pcscdtest: restart: %v\npcscd log:\n%s", err, d.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Close stops pcscd (SIGTERM, SIGKILL after 5 s) and removes the daemon's
// directory, log included. It is safe to call more than once.
func (d *Daemon) Close() error {
	d.mu.Lock()
	d.stopLocked(syscall.SIGTERM, stopGrace)
	d.mu.Unlock()
	if err := os.RemoveAll(d.Dir); err != nil {
		return fmt.Errorf("remove the daemon directory %s: %w", d.Dir, err)
	}
	return nil
}

// Running reports whether pcscd is running.
func (d *Daemon) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

func (d *Daemon) confDir() string { return filepath.Join(d.Dir, "reader.conf.d") }
func (d *Daemon) logPath() string { return filepath.Join(d.Dir, "pcscd.log") }

// errPortInUse: vpcd could not listen on its port; try other ports.
var errPortInUse = errors.New("vpcd could not listen on its TCP port (in use?)")

// start writes the reader config for d.Port, starts pcscd on a new
// listening socket at d.Socket and waits until it is ready. On error pcscd
// is stopped again.
func (d *Daemon) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked(syscall.SIGKILL, 0)

	conf := fmt.Sprintf("FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:%d\nLIBPATH %s\n", d.Port, DriverPath)
	if err := os.WriteFile(filepath.Join(d.confDir(), "vpcd"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write the vpcd reader config: %w", err)
	}
	if d.classThree != "" {
		if err := os.WriteFile(filepath.Join(d.confDir(), "classthree"), []byte(classthree.Conf(d.classThree, d.Port+2)), 0o644); err != nil {
			return fmt.Errorf("write the class-3 reader config: %w", err)
		}
	}

	os.Remove(d.Socket) // a leftover from a killed run
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: d.Socket, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on the pcscd socket %s: %w", d.Socket, err)
	}
	ln.SetUnlinkOnClose(false) // pcscd owns the socket now; Kill and Close remove it
	lnFile, err := ln.File()
	ln.Close()
	if err != nil {
		return fmt.Errorf("get the fd of the pcscd socket: %w", err)
	}
	defer lnFile.Close() // pcscd holds its own copy

	logFile, err := os.OpenFile(d.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the pcscd log: %w", err)
	}
	defer logFile.Close()
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("seek the pcscd log: %w", err)
	}

	// pcscd accepts the socket only if LISTEN_PID is its own pid, which is
	// known only after the fork: the shell exports its own pid and execs
	// pcscd, which keeps that pid.
	pcscd, err := pcscdPath()
	if err != nil {
		return err
	}
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" --foreground --info -c "$1"`, pcscd, d.confDir())
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{lnFile} // fd 3
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start pcscd (Debian package pcscd): %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	d.cmd, d.done = cmd, done

	if err := d.waitReady(logStart, done); err != nil {
		d.stopLocked(syscall.SIGKILL, 0)
		return err
	}
	return nil
}

// waitReady polls this run's part of the log (from offset logStart) until
// pcscd is ready with both readers, fails, or exits.
func (d *Daemon) waitReady(logStart int64, done <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		exited := false
		select {
		case <-done:
			exited = true
		default:
		}
		b, _ := os.ReadFile(d.logPath())
		if int64(len(b)) >= logStart {
			b = b[logStart:]
		}
		switch {
		case bytes.Contains(b, []byte("Could not initialize connection")), bytes.Contains(b, []byte("classthree: could not listen")):
			return fmt.Errorf("pcscd on ports %d to %d: %w", d.Port, d.Port+2, errPortInUse)
		case bytes.Contains(b, []byte("daemon ready")):
			if n := bytes.Count(b, []byte("Waiting for virtual ICC on port")); n != 2 {
				return fmt.Errorf("pcscd is ready but started %d vpcd readers, want 2: check %s and the driver %s (Debian package vsmartcard-vpcd)", n, filepath.Join(d.confDir(), "vpcd"), DriverPath)
			}
			if d.classThree != "" && !bytes.Contains(b, []byte("classthree: PIN pad reader waits")) {
				return fmt.Errorf("pcscd is ready but did not start the class-3 reader: check %s and the driver %s", filepath.Join(d.confDir(), "classthree"), d.classThree)
			}
			if exited {
				return errors.New("pcscd exited right after it was ready: see its log")
			}
			return nil
		case exited:
			return errors.New("pcscd exited before it was ready: see its log")
		case time.Now().After(deadline):
			return fmt.Errorf("pcscd not ready after %v: see its log", readyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopLocked signals pcscd and waits for it to exit, escalating to SIGKILL
// after grace. d.mu is held.
func (d *Daemon) stopLocked(sig syscall.Signal, grace time.Duration) {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-d.done:
		case <-time.After(grace):
			d.cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	<-d.done
	d.cmd, d.done = nil, nil
}

// freePorts returns a port p such that p to p+n-1 are free now (on all
// addresses, as vpcd listens). Someone may take them before pcscd does;
// Launch then tries again.
func freePorts(n int) (int, error) {
	var lastErr error
	for range 50 {
		p := 20000 + rand.IntN(40000)
		var held []net.Listener
		for i := range n {
			l, err := net.Listen("tcp", ":"+strconv.Itoa(p+i))
			if err != nil {
				lastErr = err
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if len(held) == n {
			return p, nil
		}
	}
	return 0, fmt.Errorf("find %d free consecutive TCP ports for the readers: %w", n, lastErr)
}

// pcscdPath finds pcscd, also in /usr/sbin when that is not in PATH (as for
// a non-root user on Debian).
func pcscdPath() (string, error) {
	if p, err := exec.LookPath("pcscd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pcscd"); err != nil {
		return "", fmt.Errorf("pcscd not found in PATH nor in /usr/sbin: install the Debian package pcscd: %w", err)
	}
	return "/usr/sbin/pcscd", nil
}

// checkInstalled fails naming the Debian package of a missing program.
func checkInstalled() error {
	var missing []string
	if _, err := pcscdPath(); err != nil {
		missing = append(missing, "pcscd (Debian package pcscd)")
	}
	if _, err := os.Stat(DriverPath); err != nil {
		missing = append(missing, DriverPath+" (Debian package vsmartcard-vpcd)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("not installed: %s; install with apt-get install pcscd vsmartcard-vpcd", strings.Join(missing, ", "))
	}
	return nil
}
