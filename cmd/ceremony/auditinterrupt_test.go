package main

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ceremony-hsm/ceremony/events/export"
	"github.com/ceremony-hsm/ceremony/events/export/exporttest"
)

// TestAuditVerifySIGTERMDuringItsRead: SIGTERM while 'audit verify' reads
// a long export (a real process, its events file being read, as inotify
// reports) ends it with "interrupted" (exit 1), naming the line where it
// stopped, before the end of the file: no verdict, no "OK" (issue 13,
// "Bad input": obey signals).
func TestAuditVerifySIGTERMDuringItsRead(t *testing.T) {
	// Long enough that the read outlasts a signal by orders of magnitude:
	// about a second of verifying on an idle machine.
	const n = 300_000
	exp := filepath.Join(t.TempDir(), "exp")
	signer := exporttest.NewSigner(t)
	exporttest.Write(t, exp, n, signer)
	events := filepath.Join(exp, export.JSONLFile)

	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, events, unix.IN_ACCESS); err != nil {
		t.Fatalf("inotify watch %s: %v", events, err)
	}

	s := &site{t: t, outputs: &bytes.Buffer{}}
	p := s.startBare("audit", "verify", exp, "--public-key", hex.EncodeToString(signer.Public()))
	waitRead(t, in, p, events)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.exit(t)
	out := p.output()
	m := stoppedAt.FindStringSubmatch(out)
	if code != exitError || m == nil || strings.Contains(out, "OK:") {
		t.Fatalf("SIGTERM during the read: exit %d, want %d with \"interrupted\", where it stopped and no verdict:\n%s", code, exitError, out)
	}
	t.Logf("%s", strings.TrimSpace(out))
	if line, _ := strconv.Atoi(m[1]); line > n {
		t.Fatalf("verify stopped at line %d of %d: it read the whole file before it obeyed the signal:\n%s", line, n, out)
	}
}

var stoppedAt = regexp.MustCompile(`ceremony audit verify: interrupted \(.*\): stopped at line (\d+) of events\.jsonl, the export is not verified`)

// waitRead waits until inotify in reports a read of path, failing the
// test when p ends first (liveness bound, not a speed assertion).
func waitRead(t *testing.T, in int, p *proc, path string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	buf := make([]byte, 4096)
	for {
		fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 20); err != nil && err != unix.EINTR {
			t.Fatalf("poll inotify: %v", err)
		}
		if k, _ := unix.Read(in, buf); k > 0 {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("the process ended before reading %s:\n%s", path, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the process has not read %s:\n%s", path, p.output())
		}
	}
}
