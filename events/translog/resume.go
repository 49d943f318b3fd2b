package translog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/ceremony-hsm/ceremony/events"
)

// LastSeqer tells the stream's last sequence (the JetStream store has it).
type LastSeqer interface {
	LastSeq(ctx context.Context) (uint64, error)
}

// Resume builds the tree from the hash file instead of recomputing it
// from the whole stream, so that opening does not grow with history
// (ARCHITECTURE.md, "Audit"): it checks that the stream still holds, at
// the hash file's last leaf, the event the file recorded, and appends the
// events after it. A change to an earlier event is not seen here: 'audit
// verify-store' recomputes the whole tree (Reset, Sync). With no hash file
// it is Sync. Check then compares the tree with the newest checkpoint.
func (l *Log) Resume(ctx context.Context, r Replayer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tree.n > 0 {
		return l.syncLocked(ctx, r)
	}
	stored, err := hashFileTree(l.hashPath)
	if err != nil {
		return err
	}
	m := stored.n
	if m == 0 {
		return l.syncLocked(ctx, r)
	}
	want, err := stored.LeafHash(m - 1)
	if err != nil {
		return err
	}
	against := "the tree's hashes " + l.hashPath
	seen := false
	err = r.Replay(ctx, uint64(m), func(rec events.Record) error {
		if !seen {
			seen = true
			switch {
			case rec.Seq != uint64(m):
				return &DamageError{Against: against, D: Divergence{MissingFrom: uint64(m), MissingTo: uint64(m)}}
			case tlog.RecordHash(rec.Data) != want:
				return &DamageError{Against: against, D: Divergence{FirstChanged: uint64(m)}, Ceremony: rec.CeremonyID}
			}
			return nil
		}
		if err := stored.Append(rec); err != nil {
			return err
		}
		l.cer = append(l.cer, rec.CeremonyID)
		return nil
	})
	if err != nil {
		l.cer = nil
		return err
	}
	if !seen {
		from := uint64(1)
		if ls, ok := r.(LastSeqer); ok {
			if last, err := ls.LastSeq(ctx); err == nil {
				from = last + 1
			}
		}
		return &DamageError{Against: against, D: Divergence{MissingFrom: from, MissingTo: uint64(m)}}
	}
	l.tree, l.cerBase, l.resumed = stored, uint64(m), true
	return nil
}

// Reset empties the tree: the next Sync recomputes it from the whole
// stream, and Check compares it with the hash file.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tree, l.cer, l.cerBase, l.resumed = &Tree{}, nil, 0, false
}

// hashFileTree returns a tree whose stored hashes are those of the hash
// file at path, read on demand: nothing but its size and what a proof or
// a root needs is read. A missing file is an empty tree.
func hashFileTree(path string) (*Tree, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Tree{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("translog: the tree's hashes %s: %w", path, err)
	}
	if info.Size()%tlog.HashSize != 0 {
		return nil, fmt.Errorf("translog: the tree's hashes %s are %d bytes, not a multiple of %d: the file is damaged", path, info.Size(), tlog.HashSize)
	}
	count := info.Size() / tlog.HashSize
	// The largest n whose stored hash count is count (StoredHashCount
	// grows with n, by at least 1 per leaf).
	lo, hi := int64(0), count
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if tlog.StoredHashCount(mid) <= count {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if tlog.StoredHashCount(lo) != count {
		return nil, fmt.Errorf("translog: the tree's hashes %s hold %d hashes, not those of a whole number of leaves: the file is damaged", path, count)
	}
	return &Tree{base: path, baseCount: count, n: lo}, nil
}

// readBase reads the stored hashes idx[at[k]] from the hash file.
func (t *Tree) readBase(idx []int64, at []int, out []tlog.Hash) error {
	f, err := os.Open(t.base)
	if err != nil {
		return fmt.Errorf("translog: read the tree's hashes: %w", err)
	}
	defer f.Close()
	for _, i := range at {
		if _, err := f.ReadAt(out[i][:], idx[i]*tlog.HashSize); err != nil {
			return fmt.Errorf("translog: read stored hash %d of %s: %w", idx[i], t.base, err)
		}
	}
	return nil
}

// saveResumed appends to path the stored hashes of a resumed tree it does
// not hold yet. What the file holds past the tree's base must be the
// tree's own hashes (another writer on the same store appended them);
// otherwise, or when the file is shorter than the base, it is not touched
// and that is an error.
func saveResumed(path string, t *Tree) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("translog: open the tree's hashes %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("translog: the tree's hashes %s: %w", path, err)
	}
	have := info.Size() / tlog.HashSize
	total := t.baseCount + int64(len(t.hashes))
	if info.Size()%tlog.HashSize != 0 || have < t.baseCount || have > total {
		return fmt.Errorf("translog: not updating %s: it holds %d bytes, the tree read from it %d hashes and now has %d", path, info.Size(), t.baseCount, total)
	}
	extra := make([]byte, (have-t.baseCount)*tlog.HashSize)
	if _, err := f.ReadAt(extra, t.baseCount*tlog.HashSize); err != nil {
		return fmt.Errorf("translog: read the tree's hashes %s: %w", path, err)
	}
	for i := range have - t.baseCount {
		if !bytes.Equal(extra[i*tlog.HashSize:(i+1)*tlog.HashSize], t.hashes[i][:]) {
			return fmt.Errorf("translog: not updating %s: stored hash %d differs from the stream's", path, t.baseCount+i)
		}
	}
	buf := make([]byte, 0, (total-have)*tlog.HashSize)
	for _, h := range t.hashes[have-t.baseCount:] {
		buf = append(buf, h[:]...)
	}
	_, werr := f.Write(buf)
	if err := errors.Join(werr, f.Sync()); err != nil {
		return fmt.Errorf("translog: write the tree's hashes %s: %w", path, err)
	}
	return nil
}
