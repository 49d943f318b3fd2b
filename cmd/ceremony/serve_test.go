package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestServeSharesTheStore: while 'ceremony serve' owns the data directory
// and a generate waits at a prompt in another process, every inspection
// and audit command and witness and abort work from other processes; the
// generate learns of the abort; SIGTERM stops the service cleanly.
func TestServeSharesTheStore(t *testing.T) {
	s := newSite(t)
	srv := s.start("serve")
	srv.waitFor(t, "clients find it through")
	info, err := os.Stat(filepath.Join(s.dataDir, serviceSeed))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the clients' nkey seed: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	svc, err := readService(s.dataDir)
	if err != nil || svc == nil || svc.PID != srv.cmd.Process.Pid || !strings.HasPrefix(svc.URL, "nats://127.0.0.1:") {
		t.Fatalf("service file: %+v, %v; want the service's pid and a loopback URL", svc, err)
	}
	if code, out := s.runCLI(t, "serve"); code != exitError || !strings.Contains(out, "already serves") {
		t.Fatalf("a second serve on the directory: exit %d\n%s", code, out)
	}

	gen := s.start("generate", "--operator", "alice", "--quorum", "2-of-3", "--id", "gen-srv", "--cards-dir", s.cardsDir)
	gen.send("")
	gen.send(cardTurn("card1")...)
	gen.waitFor(t, "Share 1 written")

	// The generate holds its runner lease: a second runner is refused,
	// naming the process, and health sees a process running it.
	code, out := s.runCLI(t, "resume", "gen-srv", "--operator", "bob", "--cards-dir", s.cardsDir)
	for _, want := range []string{"running elsewhere", "in use by another ceremony gen-srv", "pid " + strconv.Itoa(gen.cmd.Process.Pid)} {
		if code != exitError || !strings.Contains(out, want) {
			t.Errorf("resume of a ceremony another process runs: exit %d, want it to say %q:\n%s", code, want, out)
		}
	}
	if code, out := s.runCLI(t, "health"); code != exitOK || strings.Contains(out, "no process is running it") {
		t.Errorf("health while the generate runs: exit %d; it must not call it orphaned:\n%s", code, out)
	}

	export, report := filepath.Join(t.TempDir(), "exp"), filepath.Join(t.TempDir(), "report.html")
	key := filepath.Join(t.TempDir(), "audit.key")
	for _, c := range []struct {
		args []string
		say  string
	}{
		{[]string{"list"}, "gen-srv"},
		{[]string{"show", "gen-srv"}, "gen-srv"},
		{[]string{"events", "gen-srv"}, "backupkey.share_written"},
		{[]string{"health"}, ""},
		{[]string{"cards"}, "FFFE00004001"},
		{[]string{"witness", "gen-srv", "--name", "Wendy", "--role", "auditor"}, ""},
		{[]string{"audit", "export", "--out", export, "--key-file", key, "--create"}, "exported"},
		{[]string{"audit", "report", "gen-srv", "--out", report}, ""},
		{[]string{"abort", "gen-srv", "--reason", "the station hung", "--operator", "carol"}, "aborted"},
	} {
		code, out := s.runCLI(t, c.args...)
		if code != exitOK || !strings.Contains(out, c.say) {
			t.Fatalf("%v while serve runs and a generate waits: exit %d\n%s", c.args, code, out)
		}
	}
	// The generate finds the abort when it next records.
	gen.send(cardTurn("card2")...)
	if code := gen.exit(t); code != exitNotDone || !strings.Contains(gen.output(), "ended elsewhere") {
		t.Fatalf("the generate after an abort from another process: exit %d\n%s", code, gen.output())
	}
	if code, out := s.runCLI(t, "show", "gen-srv"); code != exitOK || !strings.Contains(out, "the station hung") {
		t.Fatalf("show after the abort: exit %d\n%s", code, out)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.exit(t); code != exitOK || !strings.Contains(srv.output(), "serve: stopped") {
		t.Fatalf("serve after SIGTERM: exit %d\n%s", code, srv.output())
	}
	if _, err := os.Stat(servicePath(s.dataDir)); !os.IsNotExist(err) {
		t.Fatalf("the service file is still there after a clean exit: %v", err)
	}
	// Standalone again: every event is there.
	if code, out := s.runCLI(t, "audit", "verify-store"); code != exitOK {
		t.Fatalf("verify-store after serve stopped: exit %d\n%s", code, out)
	}
	s.scanForSecrets(t)
}

// TestLockedStoreNamesTheHolder: with no service, a second command on a
// store a standalone generate holds is refused, naming the holder's pid,
// command line and start time, and saying how to share the store.
func TestLockedStoreNamesTheHolder(t *testing.T) {
	s := newSite(t)
	gen := s.start("generate", "--operator", "alice", "--id", "gen-lock", "--cards-dir", s.cardsDir)
	gen.waitFor(t, "gen-lock")
	code, out := s.runCLI(t, "list")
	for _, want := range []string{"in use", "pid " + strconv.Itoa(gen.cmd.Process.Pid), "generate --operator alice", "since 20", "ceremony serve"} {
		if code != exitError || !strings.Contains(out, want) {
			t.Errorf("list on a locked store: exit %d, want it to say %q:\n%s", code, want, out)
		}
	}
	gen.kill9(t)
	// A service file whose process is gone is ignored, with a note.
	if err := writeService(s.dataDir, service{URL: "nats://127.0.0.1:1", NkeyFile: "x", PID: gen.cmd.Process.Pid}); err != nil {
		t.Fatal(err)
	}
	if code, out := s.runCLI(t, "list"); code != exitOK || !strings.Contains(out, "not running") || !strings.Contains(out, "gen-lock") {
		t.Fatalf("list with a stale service file: exit %d\n%s", code, out)
	}
}

// TestNATSFlagsAreChecked: the NATS flags name what is wrong.
func TestNATSFlagsAreChecked(t *testing.T) {
	s := newSite(t)
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"list", "--nats-creds", "x.creds"}, exitUsage, "--nats-creds needs --nats URL"},
		{[]string{"list", "--nats", "nats://127.0.0.1:1", "--sync", "relaxed"}, exitUsage, "sync_interval"},
		{[]string{"list", "--nats", "http://127.0.0.1:1"}, exitError, "scheme \"http\""},
		{[]string{"list", "--nats", "nats://127.0.0.1:1", "--replicas", "-1"}, exitUsage, "--replicas -1"},
		{[]string{"list", "--nats", "nats://127.0.0.1:1"}, exitError, "is the server running"},
	} {
		code, out := s.runCLI(t, c.args...)
		if c.args[1] == "--nats" && !strings.Contains(strings.Join(c.args, " "), "data-dir") {
			// runCLI adds --data-dir: the first check is that pair.
			if code != exitUsage || !strings.Contains(out, "--nats and --data-dir: give one") {
				t.Errorf("%v with --data-dir: exit %d\n%s", c.args, code, out)
			}
			code, out = s.runBare(t, c.args...)
		}
		if code != c.code || !strings.Contains(out, c.say) {
			t.Errorf("%v: exit %d, want %d saying %q\n%s", c.args, code, c.code, c.say, out)
		}
	}
}

func (s *site) runBare(t *testing.T, args ...string) (int, string) {
	t.Helper()
	p := s.startBare(args...)
	code := p.exit(t)
	return code, p.output()
}
