package backupkey

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
	"io"
	"strings"

	"github.com/hashicorp/vault/shamir"
)

// KeyLen is the Backup Key length: a 32-byte AES key (the manual).
const KeyLen = 32

// KCV is the key check value: the first 3 bytes of AES-ECB of a zero
// block under the key, upper-case hex (ARCHITECTURE.md, "Events"). The
// AES round keys live in a locked buffer wiped before KCV returns
// (crypto/aes would keep them, the key among them, in unwipeable heap).
func KCV(key []byte) (string, error) {
	out, err := secret.AES256Block(key, [16]byte{})
	if err != nil {
		return "", fmt.Errorf("backupkey: kcv: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(out[:3])), nil
}

// Commitment binds a share to its key set and index: hex SHA-256 over a
// domain string, the key set id, the index and the share. Recorded at
// generation, it lets a card be checked the moment it is read.
func Commitment(keySetID [keySetIDLen]byte, index int, share []byte) string {
	h := sha256.New()
	h.Write([]byte("ceremony-share-commitment-v1"))
	h.Write(keySetID[:])
	h.Write([]byte{byte(index)})
	h.Write(share)
	return hex.EncodeToString(h.Sum(nil))
}

// Quorum is a validated k-of-n.
type Quorum struct{ Threshold, Shares int }

// ParseQuorum accepts "2-of-3", "3-of-5" or a custom "k-of-n" with
// 2 <= k <= n <= 16.
func ParseQuorum(s string) (Quorum, error) {
	var q Quorum
	if _, err := fmt.Sscanf(s, "%d-of-%d", &q.Threshold, &q.Shares); err != nil || fmt.Sprintf("%d-of-%d", q.Threshold, q.Shares) != s {
		return Quorum{}, fmt.Errorf("quorum %q: write it as k-of-n, e.g. 2-of-3 or 3-of-5", s)
	}
	return q, q.Validate()
}

// Validate says what is allowed when q is not.
func (q Quorum) Validate() error {
	switch {
	case q.Threshold < 2:
		return fmt.Errorf("quorum %d-of-%d: k must be at least 2 (one card alone must not rebuild the key)", q.Threshold, q.Shares)
	case q.Shares < q.Threshold:
		return fmt.Errorf("quorum %d-of-%d: n must be at least k", q.Threshold, q.Shares)
	case q.Shares > 16:
		return fmt.Errorf("quorum %d-of-%d: n may be at most 16 cards", q.Threshold, q.Shares)
	}
	return nil
}

func (q Quorum) String() string { return fmt.Sprintf("%d-of-%d", q.Threshold, q.Shares) }

// Split is a freshly generated key set: the key and its share records.
// Key and every Record.Share are secret and live in locked, non-dumpable
// buffers (ceremonies/secret): call Wipe when done.
type Split struct {
	KeySetID    [keySetIDLen]byte
	Key         []byte
	KCV         string
	Records     []*Record // index i+1 at position i
	Commitments []string  // same order
	bufs        []*secret.Buffer
}

// NewSplit generates a key from rnd and splits it. vault/shamir's Split
// keeps one key byte in each of its per-byte polynomials, in heap memory
// it does not wipe (see the README, "Secrets in memory"); its shares are
// moved into locked buffers and wiped at once.
func NewSplit(rnd io.Reader, q Quorum) (*Split, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	kb, err := secret.New(KeyLen)
	if err != nil {
		return nil, fmt.Errorf("backupkey: generate key: %w", err)
	}
	s := &Split{Key: kb.Bytes(), bufs: []*secret.Buffer{kb}}
	if _, err := io.ReadFull(rnd, s.Key); err != nil {
		s.Wipe()
		return nil, fmt.Errorf("backupkey: generate key: %w", err)
	}
	if _, err := io.ReadFull(rnd, s.KeySetID[:]); err != nil {
		s.Wipe()
		return nil, fmt.Errorf("backupkey: key set id: %w", err)
	}
	kcv, err := KCV(s.Key)
	if err != nil {
		s.Wipe()
		return nil, err
	}
	s.KCV = kcv
	var kcvb [3]byte
	if _, err := hex.Decode(kcvb[:], []byte(kcv)); err != nil {
		s.Wipe()
		return nil, fmt.Errorf("backupkey: kcv: %w", err)
	}
	parts, err := shamir.Split(s.Key, q.Shares, q.Threshold)
	if err != nil {
		s.Wipe()
		return nil, fmt.Errorf("backupkey: split %s: %w", q, err)
	}
	for i, p := range parts {
		s.Commitments = append(s.Commitments, Commitment(s.KeySetID, i+1, p))
		b, err := secret.Copy(p) // wipes p
		if err != nil {
			for _, rest := range parts {
				ceremonies.Wipe(rest)
			}
			s.Wipe()
			return nil, fmt.Errorf("backupkey: keep share %d: %w", i+1, err)
		}
		s.bufs = append(s.bufs, b)
		s.Records = append(s.Records, &Record{KeySetID: s.KeySetID, Threshold: q.Threshold, Shares: q.Shares, Index: i + 1, KCV: kcvb, Share: b.Bytes()})
	}
	return s, nil
}

// Wipe overwrites the key and the shares and releases their buffers: Key
// and every Record.Share are nil after it.
func (s *Split) Wipe() {
	s.Key = nil
	for _, r := range s.Records {
		r.Share = nil
	}
	for _, b := range s.bufs {
		b.Release() // wipes
	}
	s.bufs = nil
}

// Combine rebuilds the key from shares and checks it against kcv. vault's
// Combine returns a wrong key without error for too few, mixed or corrupt
// shares: the KCV check is what catches that. The key is returned in a
// locked buffer (vault's copy is wiped); the caller releases it.
func Combine(shares [][]byte, kcv string) (*secret.Buffer, string, error) {
	raw, err := shamir.Combine(shares)
	if err != nil {
		return nil, "", fmt.Errorf("backupkey: combine %d shares: %w", len(shares), err)
	}
	key, err := secret.Copy(raw) // wipes raw
	if err != nil {
		return nil, "", fmt.Errorf("backupkey: keep the rebuilt key: %w", err)
	}
	got, err := KCV(key.Bytes())
	if err != nil {
		key.Release()
		return nil, "", err
	}
	if got != kcv {
		key.Release()
		return nil, got, fmt.Errorf("backupkey: the rebuilt key has KCV %s, the key set has %s: the shares do not belong together", got, kcv)
	}
	return key, got, nil
}
