package jetstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// smallDisk mounts a tmpfs of size bytes (the tests run as root, as CI
// does) and returns its path.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs of %s on %s (the test needs root): %v\n%s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// appendUntilError appends events of one ceremony until one fails, and
// returns that error and how long its Append took (logged, not asserted:
// the bound is by construction, one attempt of at most attemptTimeout).
func appendUntilError(t *testing.T, s *Store, id string, limit int, before func(i int)) (error, time.Duration) {
	t.Helper()
	c := storetest.NewChain(id)
	var seq uint64
	for i := 0; i < limit; i++ {
		if before != nil {
			before(i)
		}
		eid, data := c.Next(t)
		start := time.Now()
		n, err := s.Append(context.Background(), id, eid, seq, data)
		if err != nil {
			return err, time.Since(start)
		}
		seq = n
	}
	t.Fatalf("%d appends, none failed", limit)
	return nil, 0
}

// A full disk fails an append at once with what to do, never with a bare
// timeout: "the disk holding D is full: free space, then 'ceremony resume
// ID'".
func TestDiskFullIsSaid(t *testing.T) {
	disk := smallDisk(t, "400k")
	s := openTest(t, filepath.Join(disk, "data"))
	err, took := appendUntilError(t, s, "cer-full", 10000, nil)
	t.Logf("the failing append took %s: %v", took, err)
	var se *StorageError
	if !errors.As(err, &se) || !errors.Is(err, ErrStorage) || se.Problem != "full" {
		t.Fatalf("want a *StorageError (full), got %T: %v", err, err)
	}
	for _, want := range []string{"the disk holding " + filepath.Join(disk, "data", "jetstream") + " is full", "free space, then 'ceremony resume cer-full'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("a full disk said as a timeout: %v", err)
	}
}

// A store on a file system mounted read-only is refused at open saying
// so.
func TestReadOnlyFileSystemIsSaid(t *testing.T) {
	disk := smallDisk(t, "4m")
	data := filepath.Join(disk, "data")
	s, err := Open(t.Context(), Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.NewChain("cer-ro")
	eid, ev := c.Next(t)
	if _, err := s.Append(t.Context(), "cer-ro", eid, 0, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	remount := func(mode string) {
		if out, err := exec.Command("mount", "-o", "remount,"+mode, disk).CombinedOutput(); err != nil {
			t.Fatalf("remount %s %s: %v\n%s", mode, disk, err, out)
		}
	}
	remount("ro")
	t.Cleanup(func() { remount("rw") })
	_, err = Open(t.Context(), Config{DataDir: data})
	var se *StorageError
	if !errors.As(err, &se) || se.Problem != "read-only" || !strings.Contains(err.Error(), "the file system holding "+filepath.Join(data, "jetstream")+" is read-only: remount it read-write") {
		t.Fatalf("want a *StorageError (read-only), got %T: %v", err, err)
	}
}

// Open's check of the files judges the event stream only: the leases'
// bucket is not history (the server expires its old entries at start),
// so a change to its files does not refuse the store, while the same
// damage to the event stream does, naming the block and leaving it as
// it was.
func TestPrecheckJudgesTheEventStreamOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	appendChain(t, s, storetest.NewChain("cer-pre"), 0, 3)
	l, err := s.OpenLeases(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire("reader:r1", "cer-pre"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	flipLast := func(stream string) string {
		blk := filepath.Join(dir, "jetstream", "jetstream", "$G", "streams", stream, "msgs", "1.blk")
		b, err := os.ReadFile(blk)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-20] ^= 0x01
		if err := os.WriteFile(blk, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return blk
	}
	flipLast("KV_CEREMONIES_leases")
	s2, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatalf("a damaged lease entry refused the store: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	blk := flipLast(DefaultStream)
	before, _ := os.ReadFile(blk)
	_, err = Open(t.Context(), Config{DataDir: dir})
	var de *DamageError
	if !errors.As(err, &de) || !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "CEREMONIES/msgs/1.blk") || !strings.Contains(err.Error(), "stream sequence") {
		t.Fatalf("want a *DamageError naming the block, got %T: %v", err, err)
	}
	if after, _ := os.ReadFile(blk); string(after) != string(before) {
		t.Fatal("the refused open changed the damaged block")
	}
}

// permHelperEnv makes the test binary, run again, open the store named by
// it as the user it runs as (TestPermissionDeniedIsSaid).
const permHelperEnv = "JETSTREAM_TEST_OPEN_AS_OTHER_USER"

func TestPermissionDeniedHelper(t *testing.T) {
	dir := os.Getenv(permHelperEnv)
	if dir == "" {
		return // run only by TestPermissionDeniedIsSaid
	}
	_, err := Open(context.Background(), Config{DataDir: dir})
	os.Stdout.WriteString("OPEN-ERROR: " + fmt.Sprint(err) + "\n")
	var se *StorageError
	if errors.As(err, &se) {
		os.Stdout.WriteString("PROBLEM: " + se.Problem + "\n")
	}
}

// A store this user cannot write is refused at open saying so. The tests
// run as root, whom file modes do not stop: the test binary opens the
// store again as the unprivileged user 65534 (nobody).
func TestPermissionDeniedIsSaid(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} { // the other user reaches the binary and the store
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(base, "data")
	s, err := Open(t.Context(), Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	os.Chmod(filepath.Join(data, "jetstream"), 0o755) // readable, not writable, by others
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "jetstream.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestPermissionDeniedHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), permHelperEnv+"="+data, "HOME="+base, "GOCOVERDIR="+base)
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the helper as uid 65534: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "PROBLEM: permission") || !strings.Contains(text, "cannot be written by this user (uid 65534)") {
		t.Fatalf("want a permission StorageError:\n%s", text)
	}
}

// A store directory without the stream's own directory is a new store to
// the check (the server made its files, the stream was never made): Open
// makes the stream rather than refusing it as lost.
func TestPrecheckNewStreamInUsedDirectory(t *testing.T) {
	dir := t.TempDir()
	opts, err := Config{DataDir: dir}.serverOptions()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(opts, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	if _, err := os.Stat(filepath.Join(dir, "jetstream", "jetstream")); err != nil {
		t.Fatalf("the server made no files: %v", err)
	}
	openTest(t, dir)
}

// TestPrecheckOutOfTimeIsNotDamage: when the caller stops the check of
// the files on a copy (a large store after an unorderly shutdown), Open
// says it did not finish (ErrCheckUnfinished) and that nothing was
// changed; it does not call the store damaged, and the store opens
// afterwards. TestCheckTimeAllowed does it with the time allowed.
func TestPrecheckOutOfTimeIsNotDamage(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	c := storetest.NewChain("cer-late")
	id, data := c.Next(t)
	if _, err := s.Append(t.Context(), "cer-late", id, 0, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A touched block (its inode change time moves): the seal no longer
	// holds and the check on a copy runs.
	blk := filepath.Join(dir, "jetstream", "jetstream", "$G", "streams", DefaultStream, "msgs", "1.blk")
	if err := os.Chmod(blk, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	late := func(cctx context.Context, _ *Store) error {
		cancel() // the caller gives up while the check reads
		<-cctx.Done()
		return fmt.Errorf("replay from 1: read: %w", cctx.Err())
	}
	_, err := Open(ctx, Config{DataDir: dir, Check: late})
	var de *DamageError
	if err == nil || errors.As(err, &de) || errors.Is(err, ErrDamaged) || !errors.Is(err, ErrCheckUnfinished) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("a check the caller stopped: %T %v; want ErrCheckUnfinished saying nothing was changed, not damage", err, err)
	}
	ok := func(context.Context, *Store) error { return nil }
	s2, err := Open(t.Context(), Config{DataDir: dir, Check: ok})
	if err != nil {
		t.Fatalf("the store after the check ran out of time: %v", err)
	}
	s2.Close()
}
