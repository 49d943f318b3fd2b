package jetstream

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// TestSealedProjectionOnlyWhenItCovers: the copy of the projection
// checkpoint is written by an orderly close only when it covers the
// stream's last sequence and no other client could append (no listener);
// otherwise the close removes any older copy. It is read without a
// server, only parts asked for, and not while a store holds the data
// directory; a read-only open and close leaves it usable; a new
// checkpoint in the bucket removes it.
func TestSealedProjectionOnlyWhenItCovers(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	parts := map[string][]byte{"meta": []byte(`{"seq":3}`), "big": []byte(strings.Repeat("x", 3<<20)), "small": []byte("abc")}
	c := storetest.NewChain("cer-sp")
	var seq uint64
	appendN := func(s *Store, n int) {
		t.Helper()
		seq = appendChain(t, s, c, seq, n)
	}
	open := func(cfg Config) *Store {
		t.Helper()
		s, err := Open(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	closeStore := func(s *Store) {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	s := open(cfg)
	appendN(s, 3)
	s.SealProjection(parts, 3)
	closeStore(s)
	sp, err := ReadSealedProjection(cfg)
	if err != nil || sp.LastSeq != 3 || sp.Stream != DefaultStream || !maps.EqualFunc(sp.Parts, parts, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("ReadSealedProjection after an orderly close = %d parts, last %d, stream %q, %v; want the parts sealed at 3", len(sp.Parts), sp.LastSeq, sp.Stream, err)
	}
	if sp, err := ReadSealedProjection(cfg, "small"); err != nil || len(sp.Parts) != 1 || string(sp.Parts["small"]) != "abc" {
		t.Fatalf("ReadSealedProjection(small) = %v, %v", sp.Parts, err)
	}
	if _, err := ReadSealedProjection(cfg, "nope"); err == nil || !strings.Contains(err.Error(), `no part "nope"`) {
		t.Fatalf("ReadSealedProjection(nope) = %v, want no part", err)
	}

	// While a store holds the directory, and after a read-only open.
	s = open(cfg)
	if _, err := ReadSealedProjection(cfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("ReadSealedProjection while a store is open = %v, want ErrLocked", err)
	}
	if _, err := s.LastSeq(t.Context()); err != nil {
		t.Fatal(err)
	}
	closeStore(s)
	if _, err := ReadSealedProjection(cfg); err != nil {
		t.Fatalf("after a read-only open and close: %v", err)
	}

	// An append after the checkpoint it is asked to copy: none, and the
	// older copy removed.
	s = open(cfg)
	appendN(s, 1)
	s.SealProjection(parts, 3)
	closeStore(s)
	if _, err := ReadSealedProjection(cfg); err == nil || !strings.Contains(err.Error(), "no sealed projection file") {
		t.Fatalf("after a close with a checkpoint short of the stream's end: %v, want no file", err)
	}

	// A listener: other clients could append before the shutdown.
	seed := filepath.Join(dir, "user.nk")
	if _, err := CreateNkeySeed(seed); err != nil {
		t.Fatal(err)
	}
	s = open(Config{DataDir: dir, Listen: "127.0.0.1:0", NkeySeedFile: seed})
	s.SealProjection(parts, seq)
	closeStore(s)
	if _, err := os.Stat(filepath.Join(dir, sealedProjectionFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a store with a listener wrote the copy (%v)", err)
	}

	// A new checkpoint in the bucket removes the copy at once.
	s = open(cfg)
	s.SealProjection(parts, seq)
	closeStore(s)
	if _, err := ReadSealedProjection(cfg); err != nil {
		t.Fatal(err)
	}
	s = open(cfg)
	if err := s.SaveProjection(t.Context(), map[string][]byte{"meta": []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, sealedProjectionFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SaveProjection left the copy of the older checkpoint (%v)", err)
	}
	closeStore(s)
}
