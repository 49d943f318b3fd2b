package translog

import (
	"context"
	"crypto/ed25519"
	"errors"
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
	pub      ed25519.PublicKey // verifies the checkpoints
	signer   Signer            // signs them; nil: this log only checks
	tree     *Tree
	cer      []string // ceremony of each leaf after cerBase
	cerBase  uint64   // leaves taken from the hash file (Resume)
	resumed  bool     // the tree starts from the hash file (Resume)
	lastSize int64    // size of the newest checkpoint written or found
}

// NewLog returns the log of dataDir for a stream, signed by signer.
// Nothing is read until Sync.
func NewLog(dataDir, stream string, signer Signer) *Log {
	return NewLogAt(Dir(filepath.Join(dataDir, DirName)), stream, signer.Public(), signer)
}

// NewLogAt returns the log of a checkpoints directory for a stream, whose
// checkpoints verify under pub. signer (of pub) signs new ones; without it
// (nil) the log checks the stream against the checkpoints and writes
// none (see SetSigner). Nothing is read until Sync.
func NewLogAt(d Dir, stream string, pub ed25519.PublicKey, signer Signer) *Log {
	return &Log{dir: d, hashPath: filepath.Join(string(d), HashFileName), origin: Origin(stream, pub), pub: pub, signer: signer, tree: &Tree{}, lastSize: -1}
}

// SetSigner gives a log made without a signer the key that signs its
// checkpoints: it must be the key they verify under.
func (l *Log) SetSigner(s Signer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !s.Public().Equal(l.pub) {
		return &KeyMismatchError{Dir: l.dir, Recorded: l.pub, Given: s.Public()}
	}
	l.signer = s
	return nil
}

// CanSign reports whether the log has the key that signs its checkpoints.
func (l *Log) CanSign() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.signer != nil
}

// ErrNoSigner says the log has no signing key (see NewLogAt).
var ErrNoSigner = errors.New("translog: this command has not the audit key that signs the checkpoints")

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
	unlock, err := l.dir.rlock()
	if err != nil {
		return err
	}
	defer unlock()
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
	newest, path, ok, err := l.dir.Newest(l.pub)
	if err != nil {
		return err
	}
	files := extra
	if ok {
		files = append([]string{path}, extra...)
		l.lastSize = max(l.lastSize, newest.Size)
	}
	for _, f := range files {
		c, err := ReadFile(f, l.pub)
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
// needed: the newest one already covers the tree). Another process
// writing checkpoints of the same directory waits (a kernel lock on the
// directory); the first checkpoint records the signing key (KeyFileName).
func (l *Log) Checkpoint(ctx context.Context, r Replayer, now time.Time) (Checkpoint, []byte, string, error) {
	if !l.CanSign() {
		return Checkpoint{}, nil, "", ErrNoSigner
	}
	unlock, err := l.dir.lock()
	if err != nil {
		return Checkpoint{}, nil, "", err
	}
	defer unlock()
	if err := l.Sync(ctx, r); err != nil {
		return Checkpoint{}, nil, "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.dir.recordKey(l.pub); err != nil {
		return Checkpoint{}, nil, "", err
	}
	if err := SaveHashes(l.hashPath, l.tree); err != nil {
		return Checkpoint{}, nil, "", err
	}
	// Another process may have written a newer checkpoint.
	if newest, _, ok, err := l.dir.Newest(l.pub); err != nil {
		return Checkpoint{}, nil, "", err
	} else if ok {
		l.lastSize = max(l.lastSize, newest.Size)
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

// Adopt stores a checkpoint signed elsewhere (a backup's, signed by a
// key this command has not, such as the HSM's) in the directory: it must
// verify under the log's key, be of its origin and give the root of the
// tree (call it after Sync). The tree's hashes and the key are recorded
// as by Checkpoint. It returns the checkpoint and its file.
func (l *Log) Adopt(signed []byte, now time.Time) (Checkpoint, string, error) {
	c, err := Open(signed, l.pub)
	if err != nil {
		return Checkpoint{}, "", err
	}
	unlock, err := l.dir.lock()
	if err != nil {
		return Checkpoint{}, "", err
	}
	defer unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.Origin != l.origin {
		return Checkpoint{}, "", fmt.Errorf("translog: the checkpoint is of log %q, not of %q", c.Origin, l.origin)
	}
	if c.Size > l.tree.n {
		return Checkpoint{}, "", fmt.Errorf("translog: the checkpoint covers %d events, the stream holds %d", c.Size, l.tree.n)
	}
	if root, err := l.tree.Root(c.Size); err != nil || root != c.Root {
		return Checkpoint{}, "", fmt.Errorf("translog: the stream's first %d events do not give the checkpoint's root %s", c.Size, c.RootHex())
	}
	if err := l.dir.recordKey(l.pub); err != nil {
		return Checkpoint{}, "", err
	}
	if err := SaveHashes(l.hashPath, l.tree); err != nil {
		return Checkpoint{}, "", err
	}
	path, err := l.dir.Write(c, signed, now)
	if err != nil {
		return Checkpoint{}, "", err
	}
	l.lastSize = max(l.lastSize, c.Size)
	return c, path, nil
}

// LastOf returns the stream sequence of the last event of a ceremony in
// the tree (call it after Sync), or 0.
func (l *Log) LastOf(ceremony string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.cer) - 1; i >= 0; i-- {
		if l.cer[i] == ceremony {
			return uint64(i) + 1
		}
	}
	return 0
}

// Cosign co-signs, as a witness with s (C2SP tlog-cosignature, under
// WitnessName), the newest stored checkpoint, which must cover stream
// sequence last and give the root of the tree (call it after Sync). The
// co-signature is stored next to the checkpoint (Dir.WriteCosignature).
// It returns the checkpoint, its file and the co-signature's file.
func (l *Log) Cosign(s Signer, last uint64, now time.Time) (Checkpoint, string, string, error) {
	unlock, err := l.dir.lock()
	if err != nil {
		return Checkpoint{}, "", "", err
	}
	defer unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	newest, path, ok, err := l.dir.Newest(l.pub)
	if err != nil {
		return Checkpoint{}, "", "", err
	}
	if !ok || uint64(newest.Size) < last {
		have := "none is stored"
		if ok {
			have = fmt.Sprintf("the newest, %s, covers %d", path, newest.Size)
		}
		return Checkpoint{}, "", "", fmt.Errorf("no checkpoint in %s covers stream sequence %d yet (%s): a checkpoint is written at the end of a ceremony and by 'ceremony serve'", l.dir, last, have)
	}
	if newest.Size > l.tree.n {
		return Checkpoint{}, "", "", fmt.Errorf("checkpoint %s covers %d events, the stream read holds %d: not co-signing a history this command has not seen", path, newest.Size, l.tree.n)
	}
	if root, err := l.tree.Root(newest.Size); err != nil || root != newest.Root {
		return Checkpoint{}, "", "", fmt.Errorf("checkpoint %s does not give the root of the stream's first %d events: not co-signing it ('ceremony audit verify-store' says more)", path, newest.Size)
	}
	signed, err := os.ReadFile(path)
	if err != nil {
		return Checkpoint{}, "", "", fmt.Errorf("translog: read checkpoint %s: %w", path, err)
	}
	name := WitnessName(s.Public())
	line, err := CosignLine(signed, name, s, now)
	if err != nil {
		return Checkpoint{}, "", "", err
	}
	file, err := l.dir.WriteCosignature(path, line, CosignKeyHash(name, s.Public()), now)
	if err != nil {
		return Checkpoint{}, "", "", err
	}
	return newest, path, file, nil
}

// Public returns the public key that signs the log's checkpoints.
func (l *Log) Public() ed25519.PublicKey { return l.pub }

// Current returns a signed checkpoint of the whole tree (call it after
// Sync): the newest stored one, with its witnesses' co-signatures, when
// it covers the tree, otherwise one
// signed now and written nowhere (a read command changes no file of the
// data directory). stored says which.
func (l *Log) Current() (c Checkpoint, signed []byte, stored bool, err error) {
	unlock, err := l.dir.rlock()
	if err != nil {
		return Checkpoint{}, nil, false, err
	}
	defer unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	newest, path, ok, err := l.dir.Newest(l.pub)
	if err != nil {
		return Checkpoint{}, nil, false, err
	}
	if ok && newest.Size == l.tree.n && newest.Origin == l.origin {
		root, err := l.tree.Root(newest.Size)
		if err == nil && root == newest.Root {
			b, err := l.dir.ReadCosigned(path)
			if err != nil {
				return Checkpoint{}, nil, false, err
			}
			return newest, b, true, nil
		}
	}
	root, err := l.tree.Root(l.tree.n)
	if err != nil {
		return Checkpoint{}, nil, false, err
	}
	c = Checkpoint{Origin: l.origin, Size: l.tree.n, Root: root}
	if l.signer == nil {
		return Checkpoint{}, nil, false, fmt.Errorf("no stored checkpoint covers the %d events of the stream, and %w to sign one", c.Size, ErrNoSigner)
	}
	signed, err = Sign(c, l.signer)
	return c, signed, false, err
}
