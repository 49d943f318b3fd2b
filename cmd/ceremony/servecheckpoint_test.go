package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream/clustertest"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// noKeyFile gives the test's processes a config directory without an
// audit key file.
func noKeyFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
}

// TestServeCheckpointsWithTheHSMKey (issue 12, item 2): 'ceremony serve
// --hsm pkcs11' (SoftHSM2) signs the checkpoints with the token's audit
// key and records that key; it writes one at the end of every ceremony
// it sees (an account change from a client, which has not the key and
// says so) and, with --backup-dir, backs the store up after it; the
// checkpoints verify under the token's key alone, and verify-store,
// without any key file, checks the store against them.
func TestServeCheckpointsWithTheHSMKey(t *testing.T) {
	noKeyFile(t)
	tk := softhsmtest.New(t, "audit-cp")
	s := newSite(t)
	bdir := filepath.Join(t.TempDir(), "backups")
	srv := s.start("serve", "--hsm", "pkcs11", "--pkcs11-module", tk.Module, "--pkcs11-token", "pkcs11:token="+tk.Label, "--pkcs11-pin-file", tk.PINFile, "--backup-dir", bdir)
	srv.waitFor(t, "clients find it through")
	srv.waitFor(t, "serve: checkpoints of")
	if !strings.Contains(srv.output(), "created the audit signing key in") {
		t.Fatalf("serve did not make the audit key in the token:\n%s", srv.output())
	}

	add := s.start("account", "add", "alice", "--role", "operator")
	add.send("a long enough password")
	if code := add.exit(t); code != exitOK || !strings.Contains(add.output(), "no checkpoint written (at shutdown)") || !strings.Contains(add.output(), "let 'ceremony serve'") {
		t.Fatalf("account add through the service: exit %d\n%s", code, add.output())
	}
	id := strings.TrimSuffix(strings.Fields(strings.SplitAfter(add.output(), "recorded as ")[1])[0], ".")
	srv.waitFor(t, "serve: checkpoint (end of ceremony "+id+")")
	// A completed ceremony the service sees is backed up (--backup-dir).
	srv.waitFor(t, "serve: Automatic backup: 1 events to "+bdir)
	if len(backups(t, bdir)) != 1 {
		t.Fatalf("serve --backup-dir: backups %v", backups(t, bdir))
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.exit(t); code != exitOK {
		t.Fatalf("serve after SIGTERM: exit %d\n%s", code, srv.output())
	}

	h := openToken(t, tk)
	signer, created, err := h.AuditSigner(context.Background())
	h.Close()
	if err != nil || created {
		t.Fatalf("the token's audit key: created %v, %v", created, err)
	}
	dir := translog.Dir(filepath.Join(s.dataDir, translog.DirName))
	rec, ok, err := dir.RecordedKey()
	if err != nil || !ok || !rec.Equal(signer.Public()) {
		t.Fatalf("recorded key %x (%v, %v), want the token's %x", rec, ok, err, signer.Public())
	}
	files, err := dir.Files()
	if err != nil || len(files) == 0 {
		t.Fatalf("checkpoints: %v, %v", files, err)
	}
	cp, err := translog.ReadFile(files[len(files)-1], signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 1 {
		t.Fatalf("the checkpoint covers %d events, want the account change's 1", cp.Size)
	}
	if code, out := s.runCLI(t, "audit", "verify-store"); code != exitOK || !strings.Contains(out, "extends its tree hashes and checkpoints") {
		t.Fatalf("verify-store with the recorded HSM key and no key file: exit %d\n%s", code, out)
	}
	// The automatic backup restores with the HSM key's public half; the
	// backup's checkpoint is kept, and the restored store checks.
	restored := filepath.Join(t.TempDir(), "restored")
	pub := hex.EncodeToString(signer.Public())
	b := backups(t, bdir)
	code, out := runBare(t, s, "store", "restore", filepath.Join(bdir, b[0]), "--data-dir", restored, "--public-key", pub)
	if code != exitOK || !strings.Contains(out, "the backup's, kept") {
		t.Fatalf("restore of an HSM-signed backup: exit %d\n%s", code, out)
	}
	if code, out := runBare(t, s, "audit", "verify-store", "--data-dir", restored); code != exitOK || !strings.Contains(out, "extends its tree hashes and checkpoints") {
		t.Fatalf("verify-store of the restored store: exit %d\n%s", code, out)
	}
	if code, out := runBare(t, s, "store", "restore", filepath.Join(bdir, b[0]), "--data-dir", filepath.Join(t.TempDir(), "r2")); code != exitUsage || !strings.Contains(out, "give --public-key") {
		t.Fatalf("restore without a key file or --public-key: exit %d\n%s", code, out)
	}
}

// TestAccountChangeWritesACheckpoint: an account command, standalone,
// writes a checkpoint with the station's key file at its close.
func TestAccountChangeWritesACheckpoint(t *testing.T) {
	noKeyFile(t)
	s := newSite(t)
	if code, out := runBare(t, s, "audit", "key", "--create"); code != exitOK {
		t.Fatalf("audit key --create: exit %d\n%s", code, out)
	}
	add := s.start("account", "add", "bob", "--role", "witness")
	add.send("a long enough password")
	if code := add.exit(t); code != exitOK || !strings.Contains(add.output(), "Checkpoint (at shutdown): 1 events") {
		t.Fatalf("account add: exit %d\n%s", code, add.output())
	}
}

// TestNATSCheckpointDir: with --nats the station keeps its checkpoints of
// the cluster's stream in --checkpoint-dir, and the next command checks
// the stream against them.
func TestNATSCheckpointDir(t *testing.T) {
	noKeyFile(t)
	c := clustertest.Start(t)
	s := newSite(t)
	if code, out := runBare(t, s, "audit", "key", "--create"); code != exitOK {
		t.Fatalf("audit key --create: exit %d\n%s", code, out)
	}
	cps := filepath.Join(t.TempDir(), "cps")
	if code, out := runBare(t, s, "demo", "--nats", c.URL(0), "--checkpoint-dir", cps); code != exitOK || !strings.Contains(out, "Checkpoint (at shutdown)") || !strings.Contains(out, cps) {
		t.Fatalf("demo --nats --checkpoint-dir: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(cps, translog.HashFileName)); err != nil {
		t.Fatal(err)
	}
	if code, out := runBare(t, s, "audit", "verify-store", "--nats", c.URL(1), "--checkpoint-dir", cps); code != exitOK || !strings.Contains(out, "extends its tree hashes and checkpoints") {
		t.Fatalf("verify-store --nats against the station's checkpoints: exit %d\n%s", code, out)
	}
	if code, out := s.runCLI(t, "list", "--checkpoint-dir", cps); code != exitUsage || !strings.Contains(out, "--checkpoint-dir needs --nats") {
		t.Fatalf("--checkpoint-dir without --nats: exit %d\n%s", code, out)
	}
}

// TestEndingQueueCoalescesABurst: ends pushed while the writer is busy are
// all taken at once (none dropped, as a full channel dropped them before),
// named in part, and completed if any of them completed; a take with
// nothing pushed says so.
func TestEndingQueueCoalescesABurst(t *testing.T) {
	q := newEndingQueue()
	if n, _, _ := q.take(); n != 0 {
		t.Fatalf("an empty queue gave %d ends", n)
	}
	q.push("gen-1", false)
	<-q.ready
	if n, why, completed := q.take(); n != 1 || why != "end of ceremony gen-1" || completed {
		t.Fatalf("one end: %d %q %v", n, why, completed)
	}
	for i := range 500 {
		q.push(fmt.Sprintf("c-%d", i), i == 321)
	}
	<-q.ready
	n, why, completed := q.take()
	if n != 500 || why != "end of 500 ceremonies: c-0, c-1, c-2, ..." || !completed {
		t.Fatalf("a burst of 500: %d %q completed %v", n, why, completed)
	}
	select {
	case <-q.ready:
		t.Fatal("signalled again after everything was taken")
	default:
	}
	q.push("load-1", true)
	q.push("load-2", false)
	<-q.ready
	if n, why, completed := q.take(); n != 2 || why != "end of 2 ceremonies: load-1, load-2" || !completed {
		t.Fatalf("two ends: %d %q %v", n, why, completed)
	}
}
