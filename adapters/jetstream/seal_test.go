package jetstream

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// TestSealSkipsOnlyUntouchedFiles: an orderly close seals the stream's
// files; a read-only open and close leaves the seal as it was; a byte
// flipped in a block whose modification time is then set back is still
// found (its inode change time moved), so the trial start runs and the
// store is refused with its files unchanged.
func TestSealSkipsOnlyUntouchedFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	appendChain(t, s, storetest.NewChain("cer-seal"), 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: dir}
	sealPath := filepath.Join(dir, sealFile)
	sealed, err := os.ReadFile(sealPath)
	if err != nil {
		t.Fatalf("an orderly close wrote no seal: %v", err)
	}
	if !sealHolds(cfg) {
		t.Fatal("the seal does not hold right after the close that wrote it")
	}
	sealInfo, _ := os.Stat(sealPath)

	s2, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Load(t.Context(), "cer-seal"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(sealPath)
	againInfo, _ := os.Stat(sealPath)
	if string(again) != string(sealed) || !againInfo.ModTime().Equal(sealInfo.ModTime()) {
		t.Fatal("a read-only open and close rewrote the seal")
	}

	blk := filepath.Join(dir, "jetstream", "jetstream", "$G", "streams", DefaultStream, "msgs", "1.blk")
	info, err := os.Stat(blk)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(blk)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-20] ^= 0x01
	if err := os.WriteFile(blk, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(blk, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if sealHolds(cfg) {
		t.Fatal("the seal holds for a block written and set back to its old modification time")
	}
	_, err = Open(t.Context(), cfg)
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("want the damaged store refused, got %v", err)
	}
	if after, _ := os.ReadFile(blk); string(after) != string(b) {
		t.Fatal("the refused open changed the damaged block")
	}
}

// TestCheckTimeAllowed: the check of the files on a copy (the seal does
// not hold) gets its own deadline, not the caller's: an Open whose
// caller's deadline has nearly passed still checks and opens the store.
// With Config.CheckTimeout too short for it, Open fails wrapping
// ErrCheckUnfinished, says nothing was changed, and changes no file; the
// next Open with time enough opens it, every event there.
func TestCheckTimeAllowed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	appendChain(t, s, storetest.NewChain("cer-check"), 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, sealFile)); err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: dir, CheckTimeout: time.Nanosecond}
	before, err := digestDir(cfg.storeDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), cfg)
	if !errors.Is(err, ErrCheckUnfinished) || !strings.Contains(err.Error(), "nothing was changed") || !strings.Contains(err.Error(), "1ns allowed") {
		t.Fatalf("Open with 1 ns for the check: %v, want ErrCheckUnfinished saying the time allowed and that nothing was changed", err)
	}
	after, err := digestDir(cfg.storeDir())
	if err != nil {
		t.Fatal(err)
	}
	if changes := compareDigests(before, after, cfg.storeDir(), cfg.storeDir()); len(changes) > 0 {
		t.Fatalf("an Open out of time for the check changed files: %+v", changes)
	}

	// The caller's deadline is too short for the check; the default
	// allows 30 s and more.
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	s2, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open with the default time for the check: %v", err)
	}
	defer s2.Close()
	recs, err := s2.Load(t.Context(), "cer-check")
	if err != nil || len(recs) != 3 {
		t.Fatalf("after the check: %d events, %v; want 3", len(recs), err)
	}
}
