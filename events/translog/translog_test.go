package translog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/ceremony-hsm/ceremony/events"
)

type keySigner ed25519.PrivateKey

func (k keySigner) Public() ed25519.PublicKey {
	return ed25519.PrivateKey(k).Public().(ed25519.PublicKey)
}
func (k keySigner) Sign(m []byte) ([]byte, error) { return ed25519.Sign(ed25519.PrivateKey(k), m), nil }

func newSigner(t *testing.T) keySigner {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner(k)
}

// records is a stream in memory: a pure unit test of the tree logic (the
// JetStream store is exercised by cmd/ceremony's tests).
type records []events.Record

func (rs records) Replay(_ context.Context, from uint64, fn func(events.Record) error) error {
	for _, r := range rs {
		if r.Seq >= from {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func stream(n int) records {
	var rs records
	for i := 1; i <= n; i++ {
		r := events.Record{Seq: uint64(i), Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		r.CeremonyID = fmt.Sprintf("c%d", i%3)
		rs = append(rs, r)
	}
	return rs
}

func TestCheckpointSignOpen(t *testing.T) {
	s := newSigner(t)
	c := Checkpoint{Origin: Origin("CEREMONIES", s.Public()), Size: 7, Root: tlog.RecordHash([]byte("x"))}
	msg, err := Sign(c, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(msg, s.Public())
	if err != nil || got != c {
		t.Fatalf("Open = %+v, %v; want %+v", got, err, c)
	}
	bad := []byte(strings.Replace(string(msg), "\n7\n", "\n8\n", 1))
	if _, err := Open(bad, s.Public()); err == nil {
		t.Fatal("a checkpoint with a changed size verified")
	}
	if _, err := Open(msg, newSigner(t).Public()); err == nil {
		t.Fatal("a checkpoint verified under another key")
	}
}

func TestConsistencyAndInclusion(t *testing.T) {
	var tr Tree
	for _, r := range stream(37) {
		if err := tr.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	r10, _ := tr.Root(10)
	r37, _ := tr.Root(37)
	if _, err := CheckConsistency(&tr, Checkpoint{Size: 10, Root: r10}, Checkpoint{Size: 37, Root: r37}); err != nil {
		t.Fatal(err)
	}
	wrong := r10
	wrong[0] ^= 1
	if _, err := CheckConsistency(&tr, Checkpoint{Size: 10, Root: wrong}, Checkpoint{Size: 37, Root: r37}); err == nil {
		t.Fatal("a changed old root was proven consistent")
	}
	p, err := tr.ProveInclusion(37, 20)
	if err != nil {
		t.Fatal(err)
	}
	leaf := tlog.RecordHash([]byte(`{"n":21}`))
	if err := tlog.CheckRecord(p, 37, r37, 20, leaf); err != nil {
		t.Fatal(err)
	}
	if err := tr.Append(events.Record{Seq: 40}); !errors.As(err, new(*GapError)) {
		t.Fatalf("a gap gave %v", err)
	}
}

func TestLogDetectsChangeAndShrink(t *testing.T) {
	s := newSigner(t)
	dir := t.TempDir()
	ctx := context.Background()
	rs := stream(20)
	l := NewLog(dir, "CEREMONIES", s)
	if _, _, path, err := l.Checkpoint(ctx, rs, time.Unix(1, 0)); err != nil || path == "" {
		t.Fatalf("checkpoint: %q %v", path, err)
	}
	// The same history checks.
	l2 := NewLog(dir, "CEREMONIES", s)
	if err := l2.Sync(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := l2.Check(); err != nil {
		t.Fatal(err)
	}
	// A changed record is named with its ceremony.
	changed := append(records(nil), rs...)
	changed[11].Data = []byte("changed")
	l3 := NewLog(dir, "CEREMONIES", s)
	if err := l3.Sync(ctx, changed); err != nil {
		t.Fatal(err)
	}
	err := l3.Check()
	var de *DamageError
	if !errors.As(err, &de) || de.D.FirstChanged != 12 || de.Ceremony != "c0" {
		t.Fatalf("changed record: %v", err)
	}
	// A shorter history names the missing sequences.
	l4 := NewLog(dir, "CEREMONIES", s)
	if err := l4.Sync(ctx, rs[:15]); err != nil {
		t.Fatal(err)
	}
	if err := l4.Check(); !errors.As(err, &de) || de.D.MissingFrom != 16 || de.D.MissingTo != 20 {
		t.Fatalf("shrunk history: %v", err)
	}
	// Without the hash file, the checkpoint alone still sees the shrink.
	if err := os.Remove(filepath.Join(dir, DirName, HashFileName)); err != nil {
		t.Fatal(err)
	}
	l5 := NewLog(dir, "CEREMONIES", s)
	_ = l5.Sync(ctx, rs[:15])
	if err := l5.Check(); !errors.As(err, &de) || de.D.MissingFrom != 16 {
		t.Fatalf("shrunk history, no hash file: %v", err)
	}
	l6 := NewLog(dir, "CEREMONIES", s)
	_ = l6.Sync(ctx, changed)
	if err := l6.Check(); !errors.As(err, &de) || !strings.Contains(err.Error(), "first 20 events hash to") {
		t.Fatalf("changed record, no hash file: %v", err)
	}
}

func TestHashFileReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, HashFileName)
	for _, n := range []int{1, 2, 3, 7, 8, 100} {
		var tr Tree
		for _, r := range stream(n) {
			_ = tr.Append(r)
		}
		if err := SaveHashes(path, &tr); err != nil {
			t.Fatal(err)
		}
		got, err := LoadHashes(path)
		if err != nil || got.Size() != int64(n) {
			t.Fatalf("reload of %d leaves: %v, %v", n, got.Size(), err)
		}
	}
}
