package translog

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// Replayer reads the stream in order (events.Store has it).
type Replayer interface {
	Replay(ctx context.Context, from uint64, fn func(events.Record) error) error
}

// Log is the station's transparency log: the tree over the stream, its
// hash file and its checkpoints directory, in a data directory. It is
// safe for concurrent use.
type Log struct {
	mu       sync.Mutex
	dir      Dir
	hashPath string
	origin   string
	signer   Signer
	tree     *Tree
	cer      []string // ceremony of each leaf after cerBase
	cerBase  uint64   // leaves taken from the hash file (Resume)
	resumed  bool     // the tree starts from the hash file (Resume)
	lastSize int64    // size of the newest checkpoint written or found
}

// NewLog returns the log of dataDir for a stream, signed by signer.
// Nothing is read until Sync.
func NewLog(dataDir, stream string, signer Signer) *Log {
	d := Dir(filepath.Join(dataDir, DirName))
	return &Log{dir: d, hashPath: filepath.Join(string(d), HashFileName), origin: Origin(stream, signer.Public()), signer: signer, tree: &Tree{}, lastSize: -1}
}

// Dir returns the checkpoints directory.
func (l *Log) Dir() Dir { return l.dir }

// Origin returns the log's origin line.
func (l *Log) Origin() string { return l.origin }

// Tree returns the tree (read it only while no Sync runs).
func (l *Log) Tree() *Tree { return l.tree }

// Ceremony returns the ceremony of stream sequence seq, or "".
func (l *Log) Ceremony(seq uint64) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq <= l.cerBase || seq > l.cerBase+uint64(len(l.cer)) {
		return ""
	}
	return l.cer[seq-l.cerBase-1]
}

// Sync reads the records the tree does not hold yet.
func (l *Log) Sync(ctx context.Context, r Replayer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncLocked(ctx, r)
}

func (l *Log) syncLocked(ctx context.Context, r Replayer) error {
	return r.Replay(ctx, uint64(l.tree.n)+1, func(rec events.Record) error {
		if err := l.tree.Append(rec); err != nil {
			return err
		}
		l.cer = append(l.cer, rec.CeremonyID)
		return nil
	})
}

// DamageError says how the stream differs from what was recorded of it:
// the hash file or a checkpoint. It names the stream sequences, the
// first bad record and its ceremony.
type DamageError struct {
	Against  string // "the tree's hashes FILE", "checkpoint FILE"
	D        Divergence
	Ceremony string // of the first changed record, when known
	Detail   string
}

func (e *DamageError) Error() string {
	msg := fmt.Sprintf("the event store does not hold the history recorded in %s: %s", e.Against, e.D.Error())
	if e.Ceremony != "" {
		msg += fmt.Sprintf(" (first bad record: stream sequence %d, ceremony %s)", e.D.FirstChanged, e.Ceremony)
	}
	if e.Detail != "" {
		msg += "; " + e.Detail
	}
	return msg
}

// Check compares the tree with the hash file, the newest checkpoint in
// the directory and the extra checkpoint files. Call it after Sync.
func (l *Log) Check(extra ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	stored := l.tree // a resumed tree starts from the hash file (Resume)
	if !l.resumed {
		var err error
		if stored, err = LoadHashes(l.hashPath); err != nil {
			return err
		}
		if d := Compare(stored, l.tree); d != nil {
			return l.damage("the tree's hashes "+l.hashPath, *d, "")
		}
	}
	newest, path, ok, err := l.dir.Newest(l.signer.Public())
	if err != nil {
		return err
	}
	files := extra
	if ok {
		files = append([]string{path}, extra...)
		l.lastSize = max(l.lastSize, newest.Size)
	}
	for _, f := range files {
		c, err := ReadFile(f, l.signer.Public())
		if err != nil {
			return err
		}
		if err := l.checkAgainst(c, f, stored); err != nil {
			return err
		}
	}
	return nil
}

// checkAgainst checks the tree against one checkpoint.
func (l *Log) checkAgainst(c Checkpoint, file string, stored *Tree) error {
	if c.Origin != l.origin {
		return fmt.Errorf("checkpoint %s is of log %q, not of this store's log %q", file, c.Origin, l.origin)
	}
	if c.Size > l.tree.n {
		d := Divergence{MissingFrom: uint64(l.tree.n) + 1, MissingTo: uint64(c.Size)}
		return l.damage("checkpoint "+file, d, "")
	}
	root, err := l.tree.Root(c.Size)
	if err != nil {
		return err
	}
	if root == c.Root {
		return nil
	}
	// Which record? The hash file agrees with the tree (checked before),
	// so it cannot tell; a tree of the checkpoint's size is all we have.
	return l.damage("checkpoint "+file, Divergence{}, fmt.Sprintf("the first %d events hash to %x, the checkpoint says %s: a record among them was changed (the tree's hashes were rewritten with it; restore from a backup)", c.Size, root, c.RootHex()))
}

func (l *Log) damage(against string, d Divergence, detail string) error {
	e := &DamageError{Against: against, D: d, Detail: detail}
	if d.FirstChanged > l.cerBase && d.FirstChanged <= l.cerBase+uint64(len(l.cer)) {
		e.Ceremony = l.cer[d.FirstChanged-l.cerBase-1]
	}
	return e
}

// Checkpoint syncs the tree, appends its new hashes to the hash file and,
// when the tree grew since the newest checkpoint, signs and writes one.
// It returns the checkpoint, its signed note and file ("" when none was
// needed: the newest one already covers the tree).
func (l *Log) Checkpoint(ctx context.Context, r Replayer, now time.Time) (Checkpoint, []byte, string, error) {
	if err := l.Sync(ctx, r); err != nil {
		return Checkpoint{}, nil, "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := SaveHashes(l.hashPath, l.tree); err != nil {
		return Checkpoint{}, nil, "", err
	}
	root, err := l.tree.Root(l.tree.n)
	if err != nil {
		return Checkpoint{}, nil, "", err
	}
	c := Checkpoint{Origin: l.origin, Size: l.tree.n, Root: root}
	signed, err := Sign(c, l.signer)
	if err != nil {
		return Checkpoint{}, nil, "", err
	}
	if c.Size == 0 || c.Size <= l.lastSize {
		return c, signed, "", nil
	}
	path, err := l.dir.Write(c, signed, now)
	if err != nil {
		return Checkpoint{}, nil, "", err
	}
	l.lastSize = c.Size
	return c, signed, path, nil
}

// Public returns the public key that signs the log's checkpoints.
func (l *Log) Public() ed25519.PublicKey { return l.signer.Public() }

// Current returns a signed checkpoint of the whole tree (call it after
// Sync): the newest stored one when it covers the tree, otherwise one
// signed now and written nowhere (a read command changes no file of the
// data directory). stored says which.
func (l *Log) Current() (c Checkpoint, signed []byte, stored bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	newest, path, ok, err := l.dir.Newest(l.signer.Public())
	if err != nil {
		return Checkpoint{}, nil, false, err
	}
	if ok && newest.Size == l.tree.n && newest.Origin == l.origin {
		root, err := l.tree.Root(newest.Size)
		if err == nil && root == newest.Root {
			b, err := os.ReadFile(path)
			if err != nil {
				return Checkpoint{}, nil, false, fmt.Errorf("translog: read checkpoint %s: %w", path, err)
			}
			return newest, b, true, nil
		}
	}
	root, err := l.tree.Root(l.tree.n)
	if err != nil {
		return Checkpoint{}, nil, false, err
	}
	c = Checkpoint{Origin: l.origin, Size: l.tree.n, Root: root}
	signed, err = Sign(c, l.signer)
	return c, signed, false, err
}
