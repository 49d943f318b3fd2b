package translog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is the body of a signed checkpoint (C2SP tlog-checkpoint):
// the log's origin, its size and its root hash.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text is the checkpoint's note body: origin, size and base64 root hash,
// one per line.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// RootHex is the root hash in hex.
func (c Checkpoint) RootHex() string { return hex.EncodeToString(c.Root[:]) }

// ParseCheckpoint reads a checkpoint body. Extension lines are ignored.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, fmt.Errorf("translog: a checkpoint has an origin, a size and a root hash, one per line")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return Checkpoint{}, fmt.Errorf("translog: checkpoint size %q is not a decimal number", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("translog: checkpoint root hash %q is not %d bytes of base64", lines[2], tlog.HashSize)
	}
	c := Checkpoint{Origin: lines[0], Size: size}
	copy(c.Root[:], root)
	return c, nil
}

// Signer is an Ed25519 signer: the audit key, in a file or the HSM.
type Signer interface {
	Public() ed25519.PublicKey
	Sign(msg []byte) ([]byte, error)
}

// Origin names the log of a station: its stream and the audit key that
// signs its checkpoints.
func Origin(stream string, pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return "ceremony/" + stream + "/" + hex.EncodeToString(s[:8])
}

// noteSigner makes a note.Signer of an Ed25519 signer (the note
// signature algorithm 1, Ed25519, as note.NewSigner does for a key file).
type noteSigner struct {
	name string
	s    Signer
}

func (n noteSigner) Name() string                    { return n.name }
func (n noteSigner) KeyHash() uint32                 { return keyHash(n.name, n.s.Public()) }
func (n noteSigner) Sign(msg []byte) ([]byte, error) { return n.s.Sign(msg) }

// keyHash is the note key hash of an Ed25519 key: the first four bytes of
// SHA-256(name, "\n", 0x01, key).
func keyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(append([]byte{1}, pub...))
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Sign returns the signed note of c, signed by s under the name c.Origin.
func Sign(c Checkpoint, s Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: c.Text()}, noteSigner{name: c.Origin, s: s})
	if err != nil {
		return nil, fmt.Errorf("translog: sign the checkpoint of %d events: %w", c.Size, err)
	}
	return msg, nil
}

// VerifierKey returns the note verifier key (name+hash+key) of the
// station's audit key for a log origin.
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(origin, pub)
}

// Open checks a signed checkpoint against the audit public key and
// returns it. The origin must be the one the key signs under (the note's
// key name).
func Open(msg []byte, pub ed25519.PublicKey) (Checkpoint, error) {
	i := bytes.Index(msg, []byte("\n"))
	if i <= 0 {
		return Checkpoint{}, fmt.Errorf("translog: not a checkpoint (no origin line)")
	}
	origin := string(msg[:i])
	vkey, err := VerifierKey(origin, pub)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("translog: checkpoint origin %q: %w", origin, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("translog: checkpoint origin %q: %w", origin, err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("translog: checkpoint of %q is not signed by this audit key: %w", origin, err)
	}
	return ParseCheckpoint(n.Text)
}

// ParseUnverified reads a checkpoint's body without checking its
// signature (to name it in a message, or to compare two of the same key).
func ParseUnverified(msg []byte) (Checkpoint, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, fmt.Errorf("translog: not a signed checkpoint (no blank line before the signatures)")
	}
	return ParseCheckpoint(string(msg[:i+1]))
}

// CheckConsistency proves with the tree t (which holds at least
// newer.Size leaves) that newer extends older, and that both roots are
// those of t: it returns the proof hashes, for an offline check.
func CheckConsistency(t *Tree, older, newer Checkpoint) (tlog.TreeProof, error) {
	if older.Size > newer.Size {
		return nil, fmt.Errorf("translog: checkpoint of %d events cannot extend one of %d", newer.Size, older.Size)
	}
	p, err := t.ProveConsistency(newer.Size, older.Size)
	if err != nil {
		return nil, err
	}
	if err := tlog.CheckTree(p, newer.Size, newer.Root, older.Size, older.Root); err != nil {
		return nil, fmt.Errorf("translog: checkpoint of %d events does not extend the one of %d: %w", newer.Size, older.Size, err)
	}
	return p, nil
}
