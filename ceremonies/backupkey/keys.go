package backupkey

import (
	"crypto/aes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"io"
	"strings"

	"github.com/hashicorp/vault/shamir"
)

// KeyLen is the Backup Key length: a 32-byte AES key (the manual).
const KeyLen = 32

// KCV is the key check value: the first 3 bytes of AES-ECB of a zero
// block under the key, upper-case hex (ARCHITECTURE.md, "Events").
func KCV(key []byte) (string, error) {
	c, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("backupkey: kcv: %w", err)
	}
	var zero, out [aes.BlockSize]byte
	c.Encrypt(out[:], zero[:])
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
// Key and every Record.Share are secret: call Wipe when done.
type Split struct {
	KeySetID    [keySetIDLen]byte
	Key         []byte
	KCV         string
	Records     []*Record // index i+1 at position i
	Commitments []string  // same order
}

// NewSplit generates a key from rnd and splits it.
func NewSplit(rnd io.Reader, q Quorum) (*Split, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	s := &Split{Key: make([]byte, KeyLen)}
	if _, err := io.ReadFull(rnd, s.Key); err != nil {
		return nil, fmt.Errorf("backupkey: generate key: %w", err)
	}
	if _, err := io.ReadFull(rnd, s.KeySetID[:]); err != nil {
		return nil, fmt.Errorf("backupkey: key set id: %w", err)
	}
	kcv, err := KCV(s.Key)
	if err != nil {
		return nil, err
	}
	s.KCV = kcv
	var kcvb [3]byte
	if _, err := hex.Decode(kcvb[:], []byte(kcv)); err != nil {
		return nil, fmt.Errorf("backupkey: kcv: %w", err)
	}
	parts, err := shamir.Split(s.Key, q.Shares, q.Threshold)
	if err != nil {
		s.Wipe()
		return nil, fmt.Errorf("backupkey: split %s: %w", q, err)
	}
	for i, p := range parts {
		r := &Record{KeySetID: s.KeySetID, Threshold: q.Threshold, Shares: q.Shares, Index: i + 1, KCV: kcvb, Share: p}
		s.Records = append(s.Records, r)
		s.Commitments = append(s.Commitments, Commitment(s.KeySetID, i+1, p))
	}
	return s, nil
}

// Wipe overwrites the key and the shares.
func (s *Split) Wipe() {
	ceremonies.Wipe(s.Key)
	for _, r := range s.Records {
		ceremonies.Wipe(r.Share)
	}
}

// Combine rebuilds the key from shares and checks it against kcv. vault's
// Combine returns a wrong key without error for too few, mixed or corrupt
// shares: the KCV check is what catches that. The caller wipes the key.
func Combine(shares [][]byte, kcv string) ([]byte, string, error) {
	key, err := shamir.Combine(shares)
	if err != nil {
		return nil, "", fmt.Errorf("backupkey: combine %d shares: %w", len(shares), err)
	}
	got, err := KCV(key)
	if err != nil {
		ceremonies.Wipe(key)
		return nil, "", err
	}
	if got != kcv {
		ceremonies.Wipe(key)
		return nil, got, fmt.Errorf("backupkey: the rebuilt key has KCV %s, the key set has %s: the shares do not belong together", got, kcv)
	}
	return key, got, nil
}
