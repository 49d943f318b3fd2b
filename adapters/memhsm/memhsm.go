// Package memhsm is the software HSM of the demo and of the fast tests: it
// implements the ceremonies.HSM port in memory and passes the same contract
// suite (ceremonies/hsmtest) as the PKCS#11 adapter.
//
// Rules a caller must know: the key lives in this process's memory only and
// is gone when it exits; it is never written anywhere. This is a rehearsal
// HSM, not a place to keep a real Backup Key.
package memhsm

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
)

// HSM holds at most one Backup Key.
type HSM struct {
	name string

	mu    sync.Mutex
	label string
	key   []byte // in buf: locked, not dumped
	buf   *secret.Buffer
	kcv   string
}

// New returns an empty software HSM called name.
func New(name string) *HSM { return &HSM{name: name} }

// Name implements ceremonies.HSM.
func (h *HSM) Name() string { return h.name }

// ImportBackupKey implements ceremonies.HSM.
func (h *HSM) ImportBackupKey(_ context.Context, label string, key []byte) (string, bool, error) {
	if len(key) != 32 {
		return "", false, fmt.Errorf("memhsm %s: a Backup Key is 32 bytes (AES-256), got %d", h.name, len(key))
	}
	if label == "" {
		return "", false, fmt.Errorf("memhsm %s: the key needs a label", h.name)
	}
	kcv, err := kcvOf(key)
	if err != nil {
		return "", false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.key != nil {
		if subtle.ConstantTimeCompare(h.key, key) == 1 {
			return h.kcv, true, nil
		}
		return "", false, fmt.Errorf("memhsm %s: it holds a different Backup Key %q (KCV %s); refusing to replace it: backups made under it would become unreadable", h.name, h.label, h.kcv)
	}
	buf, err := secret.New(len(key))
	if err != nil {
		return "", false, fmt.Errorf("memhsm %s: %w", h.name, err)
	}
	copy(buf.Bytes(), key)
	h.buf, h.key = buf, buf.Bytes()
	h.label, h.kcv = label, kcv
	return kcv, false, nil
}

// BackupKey returns the label and KCV of the loaded key.
func (h *HSM) BackupKey() (label, kcv string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.label, h.kcv, h.key != nil
}

// kcvOf computes the KCV inside the "HSM", independently of the caller.
func kcvOf(key []byte) (string, error) {
	out, err := secret.AES256Block(key, [16]byte{}) // round keys wiped: no stray copy of the key
	if err != nil {
		return "", fmt.Errorf("memhsm: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(out[:3])), nil
}
