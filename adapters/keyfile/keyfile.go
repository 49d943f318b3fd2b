// Package keyfile is an Ed25519 signing key kept in a file, created on
// first use: the audit export's signer when no HSM holds the key.
//
// Rules a caller must know: the file holds the private key (hex seed,
// mode 0600); protect it like any signing key and keep it out of the event
// store's directory. An existing file is never overwritten.
package keyfile

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Signer signs with the key of the file.
type Signer struct{ key ed25519.PrivateKey }

// Public returns the public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign signs msg.
func (s *Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// LoadOrCreate reads the key at path, or creates it there (created=true).
func LoadOrCreate(path string) (*Signer, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, false, fmt.Errorf("keyfile: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("keyfile: create %s: %w", path, err)
		}
		_, werr := f.WriteString(hex.EncodeToString(seed) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, false, fmt.Errorf("keyfile: write %s: %w", path, werr)
		}
		return &Signer{ed25519.NewKeyFromSeed(seed)}, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("keyfile: read %s: %w", path, err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, false, fmt.Errorf("keyfile: %s is not an Ed25519 key file (want a %d-byte hex seed)", path, ed25519.SeedSize)
	}
	return &Signer{ed25519.NewKeyFromSeed(seed)}, false, nil
}

// ParsePublic reads a public key given as hex, or as a file holding hex.
func ParsePublic(s string) (ed25519.PublicKey, error) {
	if b, err := os.ReadFile(s); err == nil {
		s = string(b)
	}
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("keyfile: the public key must be %d bytes of hex (as 'ceremony audit key' prints it), or a file holding that", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
