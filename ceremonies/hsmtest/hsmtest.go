// Package hsmtest is the contract every ceremonies.HSM implementation
// passes: the software HSM of the demo now, the PKCS#11 adapter later.
package hsmtest

import (
	"bytes"
	"context"
	"crypto/aes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// Run checks h, a fresh HSM with no Backup Key.
func Run(t *testing.T, newHSM func(t *testing.T) ceremonies.HSM) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{0x42}, 32)
	other := bytes.Repeat([]byte{0x24}, 32)
	want := kcv(t, key)

	t.Run("import gives the KCV", func(t *testing.T) {
		h := newHSM(t)
		got, already, err := h.ImportBackupKey(ctx, "backup-key-test", key)
		if err != nil || already || got != want {
			t.Fatalf("import: kcv %q already %v err %v; want %q, false, nil", got, already, err, want)
		}
	})
	t.Run("same key again is idempotent", func(t *testing.T) {
		h := newHSM(t)
		if _, _, err := h.ImportBackupKey(ctx, "backup-key-test", key); err != nil {
			t.Fatal(err)
		}
		got, already, err := h.ImportBackupKey(ctx, "backup-key-test", key)
		if err != nil || !already || got != want {
			t.Fatalf("second import: kcv %q already %v err %v", got, already, err)
		}
	})
	t.Run("a different key is refused", func(t *testing.T) {
		h := newHSM(t)
		if _, _, err := h.ImportBackupKey(ctx, "backup-key-test", key); err != nil {
			t.Fatal(err)
		}
		_, _, err := h.ImportBackupKey(ctx, "backup-key-test", other)
		if err == nil {
			t.Fatal("a different Backup Key was accepted over the existing one")
		}
		for _, secret := range [][]byte{key, other} {
			if strings.Contains(err.Error(), hex.EncodeToString(secret)) {
				t.Fatalf("the error text leaks key bytes: %v", err)
			}
		}
	})
	t.Run("wrong key length is refused", func(t *testing.T) {
		h := newHSM(t)
		if _, _, err := h.ImportBackupKey(ctx, "backup-key-test", key[:16]); err == nil {
			t.Fatal("a 16-byte key was accepted as a Backup Key")
		}
	})
}

func kcv(t *testing.T, key []byte) string {
	c, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	var zero, out [16]byte
	c.Encrypt(out[:], zero[:])
	return strings.ToUpper(hex.EncodeToString(out[:3]))
}
