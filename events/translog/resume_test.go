package translog

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// lastSeqRecords is a stream that tells its last sequence.
type lastSeqRecords struct{ records }

func (r lastSeqRecords) LastSeq(context.Context) (uint64, error) {
	return uint64(len(r.records)), nil
}

// TestResume: a log resumed from its hash file has the tree a full
// recompute gives, grown by the events after the file; a changed last
// leaf or a stream shorter than the file is damage at open; a change to an
// earlier event is not seen by Resume (the trade, ARCHITECTURE.md
// "Audit") but is by a full recompute (Reset, Sync, Check).
func TestResume(t *testing.T) {
	s := newSigner(t)
	dir := t.TempDir()
	ctx := context.Background()
	rs := stream(20)
	if _, _, _, err := NewLog(dir, "CEREMONIES", s).Checkpoint(ctx, rs[:14], time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	grown := lastSeqRecords{rs}

	full := NewLog(dir, "CEREMONIES", s)
	if err := full.Sync(ctx, grown); err != nil {
		t.Fatal(err)
	}
	want, _ := full.Tree().Root(20)
	l := NewLog(dir, "CEREMONIES", s)
	if err := l.Resume(ctx, grown); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Tree().Root(20); err != nil || got != want {
		t.Fatalf("resumed root %x (%v), full recompute %x", got, err, want)
	}
	if l.Ceremony(16) != "c1" || l.Ceremony(3) != "" {
		t.Errorf("ceremony of 16 = %q (want c1), of 3 = %q (want \"\": from the file)", l.Ceremony(16), l.Ceremony(3))
	}

	// A writer's checkpoint appends the tail's hashes to the file, also
	// when another writer appended some of them first.
	other := NewLog(dir, "CEREMONIES", s)
	if err := other.Resume(ctx, lastSeqRecords{rs[:17]}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := other.Checkpoint(ctx, lastSeqRecords{rs[:17]}, time.Unix(2, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, path, err := l.Checkpoint(ctx, grown, time.Unix(3, 0)); err != nil || path == "" {
		t.Fatalf("checkpoint of the resumed log: %q, %v", path, err)
	}
	after, err := LoadHashes(filepath.Join(dir, DirName, HashFileName))
	if err != nil || after.Size() != 20 {
		t.Fatalf("hash file after the checkpoint: %d leaves, %v", after.Size(), err)
	}
	if got, _ := after.Root(20); got != want {
		t.Fatalf("hash file root %x, full recompute %x", got, want)
	}
	if err := NewLog(dir, "CEREMONIES", s).Resume(ctx, grown); err != nil {
		t.Fatal(err)
	}

	var de *DamageError
	changedLast := append(records(nil), rs...)
	changedLast[19].Data = []byte("changed")
	if err := NewLog(dir, "CEREMONIES", s).Resume(ctx, lastSeqRecords{changedLast}); !errors.As(err, &de) || de.D.FirstChanged != 20 || de.Ceremony != "c2" {
		t.Fatalf("changed last leaf of the file: %v", err)
	}
	if err := NewLog(dir, "CEREMONIES", s).Resume(ctx, lastSeqRecords{rs[:10]}); !errors.As(err, &de) || de.D.MissingFrom != 11 || de.D.MissingTo != 20 {
		t.Fatalf("stream shorter than the file: %v", err)
	}
	gap := append(append(records(nil), rs[:19]...), stream(21)[20])
	if err := NewLog(dir, "CEREMONIES", s).Resume(ctx, lastSeqRecords{gap}); !errors.As(err, &de) || de.D.MissingFrom != 20 {
		t.Fatalf("the file's last leaf missing from the stream: %v", err)
	}

	changedEarly := append(records(nil), rs...)
	changedEarly[4].Data = []byte("changed")
	r := NewLog(dir, "CEREMONIES", s)
	if err := r.Resume(ctx, lastSeqRecords{changedEarly}); err != nil {
		t.Fatalf("Resume reads only the file's last leaf and the tail: %v", err)
	}
	if err := r.Check(); err != nil {
		t.Fatalf("Resume+Check: %v", err)
	}
	r.Reset()
	if err := r.Sync(ctx, changedEarly); err != nil {
		t.Fatal(err)
	}
	if err := r.Check(); !errors.As(err, &de) || de.D.FirstChanged != 5 || de.Ceremony != "c2" {
		t.Fatalf("full recompute of a changed early event: %v", err)
	}
}
