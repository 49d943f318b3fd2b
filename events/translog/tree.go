package translog

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/ceremony-hsm/ceremony/events"
)

// Tree is the Merkle tree over the stream, in memory: every stored hash
// (tlog's layout), so that any tree hash and proof up to its size can be
// computed. It is not safe for concurrent use.
type Tree struct {
	// base is the hash file the first stored hashes are read from on
	// demand (a tree resumed from it, resume.go), baseCount their number;
	// hashes holds the stored hashes after them.
	base      string
	baseCount int64
	hashes    []tlog.Hash
	n         int64
}

// Size returns the number of leaves (= the stream's last sequence).
func (t *Tree) Size() int64 { return t.n }

// Append adds the next record. Its stream sequence must be Size()+1: a
// gap means the stream lost records, and is an error naming them.
func (t *Tree) Append(r events.Record) error {
	if want := uint64(t.n) + 1; r.Seq != want {
		if r.Seq > want {
			return &GapError{From: want, To: r.Seq - 1}
		}
		return fmt.Errorf("translog: stream sequence %d after %d: the stream went back", r.Seq, t.n)
	}
	return t.appendData(r.Data)
}

func (t *Tree) appendData(data []byte) error {
	hs, err := tlog.StoredHashes(t.n, data, t)
	if err != nil {
		return fmt.Errorf("translog: leaf %d: %w", t.n, err)
	}
	t.hashes = append(t.hashes, hs...)
	t.n++
	return nil
}

// ReadHashes implements tlog.HashReader over the stored hashes.
func (t *Tree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	var fromBase []int
	for i, x := range idx {
		switch {
		case x < 0 || x >= t.baseCount+int64(len(t.hashes)):
			return nil, fmt.Errorf("translog: stored hash %d not in a tree of %d leaves", x, t.n)
		case x < t.baseCount:
			fromBase = append(fromBase, i)
		default:
			out[i] = t.hashes[x-t.baseCount]
		}
	}
	if len(fromBase) > 0 {
		if err := t.readBase(idx, fromBase, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Root returns the root hash of the tree of the first n leaves (n <=
// Size()).
func (t *Tree) Root(n int64) (tlog.Hash, error) {
	if n > t.n {
		return tlog.Hash{}, fmt.Errorf("translog: tree of %d leaves asked of a tree of %d", n, t.n)
	}
	if n == 0 {
		return tlog.Hash{}, nil
	}
	return tlog.TreeHash(n, t)
}

// LeafHash returns the hash of leaf i.
func (t *Tree) LeafHash(i int64) (tlog.Hash, error) {
	h, err := t.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
	if err != nil {
		return tlog.Hash{}, err
	}
	return h[0], nil
}

// ProveInclusion proves that leaf i is in the tree of size n.
func (t *Tree) ProveInclusion(n, i int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(n, i, t)
}

// ProveConsistency proves that the tree of size n extends the one of size m.
func (t *Tree) ProveConsistency(n, m int64) (tlog.TreeProof, error) {
	return tlog.ProveTree(n, m, t)
}

// GapError says the stream skips sequences From..To (inclusive).
type GapError struct{ From, To uint64 }

func (e *GapError) Error() string {
	return fmt.Sprintf("translog: stream sequences %d-%d are missing (the stream never deletes: they were lost or damaged)", e.From, e.To)
}
