package pkcs11hsm_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

func TestKeysForBackupSkips(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.New(t, "skips")
	h := open(t, tk.Config())
	importBackupKey(t, h, "backup-key", randomKey(t))

	// An EC private key whose public key object is gone.
	softhsmtest.GenerateECKey(t, h, "orphan", []byte("orphan"))
	removeClass(t, h, []byte("orphan"), pkcs11.CKO_PUBLIC_KEY)
	// Two EC key pairs whose public keys swapped CKA_IDs.
	softhsmtest.GenerateECKey(t, h, "crossed-1", []byte("crossed-1"))
	softhsmtest.GenerateECKey(t, h, "crossed-2", []byte("crossed-2"))
	swapPublicIDs(t, h, []byte("crossed-1"), []byte("crossed-2"))
	// Two extractable AES keys sharing a CKA_ID.
	softhsmtest.GenerateAESKey(t, h, "twin-1", []byte("twin"), true)
	softhsmtest.GenerateAESKey(t, h, "twin-2", []byte("twin"), true)
	// Only wrappable with a trusted key, and a type not backed up.
	err := h.WithSession(func(c *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		_, err := c.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "trusted-only"),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("trusted-only")),
		})
		if err != nil {
			return err
		}
		_, err = c.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_DES3_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "des3"),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("des3")),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// One that is fine, and a session key, which is not listed at all.
	softhsmtest.GenerateAESKey(t, h, "good", []byte("good"), true)
	err = h.WithSession(func(c *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		_, err := c.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "session"),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	keys, skipped, err := h.KeysForBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Label != "good" {
		t.Errorf("keys = %v, want only \"good\"", keys)
	}
	want := map[string]string{
		"orphan":       "no public key object",
		"crossed-1":    "does not verify its signatures",
		"crossed-2":    "does not verify its signatures",
		"twin-1":       "2 secret keys share CKA_ID \"twin\"",
		"twin-2":       "2 secret keys share CKA_ID \"twin\"",
		"trusted-only": "CKA_WRAP_WITH_TRUSTED",
		"des3":         "key type DES3 is not supported",
	}
	got := map[string]string{}
	for _, s := range skipped {
		got[s.Key.Label] = s.Reason
	}
	for label, reason := range want {
		if !strings.Contains(got[label], reason) {
			t.Errorf("skipped %q: reason %q, want one saying %q", label, got[label], reason)
		}
	}
	if len(skipped) != len(want) {
		t.Errorf("skipped %d keys, want %d: %v", len(skipped), len(want), skipped)
	}

	// A twin cannot be wrapped by its description either.
	twin := pkcs11hsm.KeyInfo{Label: "twin-1", ID: []byte("twin"), Class: "secret", KeyType: "AES", ValueLen: 32}
	if _, err := h.WrapKey(ctx, twin); err != nil {
		t.Errorf("wrapping twin-1 by label: %v", err) // label tells the twins apart
	}
	softhsmtest.GenerateAESKey(t, h, "twin-1", []byte("twin"), true)
	if _, err := h.WrapKey(ctx, twin); !errors.Is(err, pkcs11hsm.ErrKeyNotUnique) {
		t.Errorf("wrapping one of two keys with one label and CKA_ID: %v, want ErrKeyNotUnique", err)
	}
}

func TestWrapAndUnwrapRefusals(t *testing.T) {
	ctx := context.Background()
	a := softhsmtest.New(t, "refusals")
	bare := a.Add(t, "bare")
	h, hBare := open(t, a.Config()), open(t, bare.Config())
	softhsmtest.GenerateAESKey(t, hBare, "data", aesID, true)
	key := pkcs11hsm.KeyInfo{Label: "data", ID: aesID, Class: "secret", KeyType: "AES", ValueLen: 32}

	if _, err := hBare.WrapKey(ctx, key); !errors.Is(err, pkcs11hsm.ErrNoBackupKey) {
		t.Errorf("WrapKey without a Backup Key: %v, want ErrNoBackupKey", err)
	}
	importBackupKey(t, h, "backup-key", randomKey(t))
	softhsmtest.GenerateAESKey(t, h, "data", aesID, true)
	for name, k := range map[string]pkcs11hsm.KeyInfo{
		"another label":  {Label: "date", ID: aesID, Class: "secret", KeyType: "AES", ValueLen: 32},
		"another ID":     {Label: "data", ID: []byte("node-data-2"), Class: "secret", KeyType: "AES", ValueLen: 32},
		"another type":   {Label: "data", ID: aesID, Class: "secret", KeyType: "GENERIC_SECRET", ValueLen: 32},
		"the Backup Key": {Label: "backup-key", ID: []byte(pkcs11hsm.BackupKeyID), Class: "secret", KeyType: "AES", ValueLen: 32},
	} {
		_, err := h.WrapKey(ctx, k)
		want := pkcs11hsm.ErrKeyNotFound
		if name == "the Backup Key" {
			want = pkcs11hsm.ErrKeyInfo
		}
		if !errors.Is(err, want) {
			t.Errorf("WrapKey of %s: %v, want %v", name, err, want)
		}
	}
	for name, k := range map[string]pkcs11hsm.KeyInfo{
		"no class":             {Label: "data", ID: aesID, KeyType: "AES", ValueLen: 32},
		"a public key":         {Label: "data", ID: aesID, Class: "public", KeyType: "EC"},
		"a private AES key":    {Label: "data", ID: aesID, Class: "private", KeyType: "AES"},
		"an EC secret key":     {Label: "data", ID: aesID, Class: "secret", KeyType: "EC"},
		"an unknown type":      {Label: "data", ID: aesID, Class: "secret", KeyType: "DES3"},
		"an AES key of 20":     {Label: "data", ID: aesID, Class: "secret", KeyType: "AES", ValueLen: 20},
		"EC without its point": {Label: "x", ID: ecID, Class: "private", KeyType: "EC", ECParams: softhsmtest.P256},
		"RSA without modulus":  {Label: "x", ID: ecID, Class: "private", KeyType: "RSA", PublicExponent: []byte{3}},
		"the Backup Key's ID":  {Label: "x", ID: []byte(pkcs11hsm.BackupKeyID), Class: "secret", KeyType: "AES", ValueLen: 32},
	} {
		if err := h.UnwrapKey(ctx, k, make([]byte, 40)); !errors.Is(err, pkcs11hsm.ErrKeyInfo) {
			t.Errorf("UnwrapKey of %s: %v, want ErrKeyInfo", name, err)
		}
	}
	if n := softhsmtest.CountObjects(t, h, []byte(pkcs11hsm.BackupKeyID)); n != 1 {
		t.Errorf("%d objects with the Backup Key's CKA_ID, want 1", n)
	}
}

func TestBackupAfterClose(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.New(t, "closed")
	h, err := pkcs11hsm.Open(ctx, tk.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	k := pkcs11hsm.KeyInfo{Label: "data", ID: aesID, Class: "secret", KeyType: "AES", ValueLen: 32}
	if _, _, err := h.KeysForBackup(ctx); !errors.Is(err, pkcs11hsm.ErrClosed) {
		t.Errorf("KeysForBackup: %v", err)
	}
	if _, err := h.WrapKey(ctx, k); !errors.Is(err, pkcs11hsm.ErrClosed) {
		t.Errorf("WrapKey: %v", err)
	}
	if err := h.UnwrapKey(ctx, k, make([]byte, 40)); !errors.Is(err, pkcs11hsm.ErrClosed) {
		t.Errorf("UnwrapKey: %v", err)
	}
	if err := h.WithSession(func(*pkcs11.Ctx, pkcs11.SessionHandle) error { return nil }); !errors.Is(err, pkcs11hsm.ErrClosed) {
		t.Errorf("WithSession: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	h = open(t, tk.Config())
	if _, _, err := h.KeysForBackup(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("KeysForBackup with a cancelled context: %v", err)
	}
}

func TestConcurrentWrapAndUnwrap(t *testing.T) {
	ctx := context.Background()
	a := softhsmtest.New(t, "conc-a")
	b := a.Add(t, "conc-b")
	ha, hb := open(t, a.Config()), open(t, b.Config())
	k := randomKey(t)
	importBackupKey(t, ha, "backup-key", k)
	importBackupKey(t, hb, "backup-key", k)
	const n = 6
	for i := range n {
		softhsmtest.GenerateAESKey(t, ha, "key", []byte{byte(i)}, true)
	}
	keys, _, err := ha.KeysForBackup(ctx)
	if err != nil || len(keys) != n {
		t.Fatalf("KeysForBackup: %d keys, %v", len(keys), err)
	}
	var wg sync.WaitGroup
	for _, key := range keys {
		for range 2 { // each key restored twice at once: once only succeeds
			wg.Add(1)
			go func() {
				defer wg.Done()
				blob, err := ha.WrapKey(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				if err := hb.UnwrapKey(ctx, key, blob); err != nil && !errors.Is(err, pkcs11hsm.ErrKeyExists) {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for i := range n {
		if c := softhsmtest.CountObjects(t, hb, []byte{byte(i)}); c != 1 {
			t.Errorf("key %d: %d objects on B, want 1", i, c)
		}
	}
}
