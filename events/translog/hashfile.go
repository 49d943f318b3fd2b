package translog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/tlog"
)

// HashFileName is the file, in the checkpoints directory, that holds the
// tree's stored hashes, 32 bytes each, in tlog's order.
const HashFileName = "tree.hashes"

// LoadHashes reads the stored hashes of path and returns the tree they
// make. A missing file is an empty tree. A file whose length is not the
// stored hashes of a whole number of leaves is an error naming it.
func LoadHashes(path string) (*Tree, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Tree{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("translog: read the tree's hashes %s: %w", path, err)
	}
	if len(b)%tlog.HashSize != 0 {
		return nil, fmt.Errorf("translog: the tree's hashes %s are %d bytes, not a multiple of %d: the file is damaged", path, len(b), tlog.HashSize)
	}
	count := int64(len(b) / tlog.HashSize)
	t := &Tree{hashes: make([]tlog.Hash, count)}
	for i := range t.hashes {
		copy(t.hashes[i][:], b[i*tlog.HashSize:])
	}
	// The largest n whose stored hash count is count.
	for t.n = 0; tlog.StoredHashCount(t.n+1) <= count; t.n++ {
	}
	if tlog.StoredHashCount(t.n) != count {
		return nil, fmt.Errorf("translog: the tree's hashes %s hold %d hashes, not those of a whole number of leaves: the file is damaged", path, count)
	}
	return t, nil
}

// SaveHashes appends to path the stored hashes of t it does not yet hold
// and fsyncs it. The file only grows: one that holds more hashes than t,
// or other ones, is not touched and is an error (Compare says what).
func SaveHashes(path string, t *Tree) error {
	if t.base != "" {
		return saveResumed(path, t)
	}
	old, err := LoadHashes(path)
	if err != nil {
		return err
	}
	if d := Compare(old, t); d != nil {
		return fmt.Errorf("translog: not updating %s: %w", path, d)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("translog: create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("translog: open the tree's hashes %s: %w", path, err)
	}
	buf := make([]byte, 0, (len(t.hashes)-len(old.hashes))*tlog.HashSize)
	for _, h := range t.hashes[len(old.hashes):] {
		buf = append(buf, h[:]...)
	}
	_, werr := f.Write(buf)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("translog: write the tree's hashes %s: %w", path, err)
	}
	return nil
}

// Divergence says how a tree recomputed from the stream differs from a
// record of it (the hash file, a checkpoint).
type Divergence struct {
	// FirstChanged is the stream sequence of the first record whose hash
	// differs (0: none differs).
	FirstChanged uint64
	// MissingFrom..MissingTo are the stream sequences the record has and
	// the stream does not (0: none).
	MissingFrom, MissingTo uint64
}

func (d *Divergence) Error() string {
	switch {
	case d.FirstChanged != 0 && d.MissingFrom != 0:
		return fmt.Sprintf("stream sequence %d is changed and sequences %d-%d are missing", d.FirstChanged, d.MissingFrom, d.MissingTo)
	case d.FirstChanged != 0:
		return fmt.Sprintf("stream sequence %d is not the event that was recorded (changed, replaced or reordered)", d.FirstChanged)
	default:
		return fmt.Sprintf("stream sequences %d-%d are missing (recorded before, gone now)", d.MissingFrom, d.MissingTo)
	}
}

// Compare checks that cur extends old: every leaf of old is in cur with
// the same hash. It returns nil or a *Divergence.
func Compare(old, cur *Tree) *Divergence {
	var d Divergence
	n := min(old.n, cur.n)
	for i := int64(0); i < n; i++ {
		a, _ := old.LeafHash(i)
		b, _ := cur.LeafHash(i)
		if a != b {
			d.FirstChanged = uint64(i) + 1
			break
		}
	}
	if old.n > cur.n {
		d.MissingFrom, d.MissingTo = uint64(cur.n)+1, uint64(old.n)
	}
	if d.FirstChanged == 0 && d.MissingFrom == 0 {
		return nil
	}
	return &d
}
