package pkcs11hsm_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
)

var (
	ecID       = []byte("node-signing-1")
	aesID      = []byte("node-data-1")
	stuckID    = []byte("node-stays-1")
	aesValue   = bytes.Repeat([]byte{0x5a, 0xc3}, 16) // a known AES-256 key
	testBlock  = []byte("sixteen byte blk")
	signedText = []byte("ceremony: a message signed on one node, verified on another")
)

// randomKey is a fresh 32-byte Backup Key.
func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func importBackupKey(t *testing.T, h *pkcs11hsm.HSM, label string, key []byte) {
	t.Helper()
	if _, _, err := h.ImportBackupKey(context.Background(), label, key); err != nil {
		t.Fatal(err)
	}
}

// noSecrets fails if err shows the known AES key or a Backup Key.
func noSecrets(t *testing.T, err error, secrets ...[]byte) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range append(secrets, aesValue) {
		if strings.Contains(msg, string(s)) || strings.Contains(strings.ToLower(msg), hex.EncodeToString(s)) {
			t.Errorf("error shows key material: %v", err)
		}
	}
}

func TestBackupAndRestoreBetweenNodes(t *testing.T) {
	ctx := context.Background()
	a := softhsmtest.New(t, "node-a")
	b, c, d := a.Add(t, "node-b"), a.Add(t, "node-c"), a.Add(t, "node-d")
	ha, hb, hc, hd := open(t, a.Config()), open(t, b.Config()), open(t, c.Config()), open(t, d.Config())
	k := randomKey(t)
	importBackupKey(t, ha, "backup-key-k", k)
	importBackupKey(t, hb, "backup-key-k", k)
	other := randomKey(t)
	importBackupKey(t, hc, "backup-key-other", other)
	// hd has no Backup Key.

	softhsmtest.GenerateECKey(t, ha, "signing", ecID)
	softhsmtest.ImportAESKey(t, ha, "data", aesID, aesValue, true)
	softhsmtest.GenerateAESKey(t, ha, "stays", stuckID, false)

	keys, skipped, err := ha.KeysForBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("KeysForBackup lists %d keys, want 2: %v", len(keys), keys)
	}
	ec, sk := keys[0], keys[1]
	if ec.Class != "private" || ec.KeyType != "EC" || ec.Label != "signing" || !bytes.Equal(ec.ID, ecID) {
		t.Errorf("first key = %+v, want the private EC key", ec)
	}
	if !bytes.Equal(ec.ECParams, softhsmtest.P256) {
		t.Errorf("EC params %x, want P-256 %x", ec.ECParams, softhsmtest.P256)
	}
	if len(ec.ECPoint) != 67 || !bytes.HasPrefix(ec.ECPoint, []byte{0x04, 0x41, 0x04}) {
		t.Errorf("EC point %x, want a DER OCTET STRING of an uncompressed P-256 point", ec.ECPoint)
	}
	if sk.Class != "secret" || sk.KeyType != "AES" || sk.Label != "data" || !bytes.Equal(sk.ID, aesID) || sk.ValueLen != 32 {
		t.Errorf("second key = %#v, want the 32-byte AES key", sk)
	}
	if sk.ECParams != nil || sk.ECPoint != nil || sk.Modulus != nil || ec.ValueLen != 0 {
		t.Errorf("fields of another type set: %#v, %#v", ec, sk)
	}
	if len(skipped) != 1 {
		t.Fatalf("skipped %d keys, want 1 (the non-extractable one): %v", len(skipped), skipped)
	}
	if s := skipped[0]; s.Key.Label != "stays" || !bytes.Equal(s.Key.ID, stuckID) || s.Key.Class != "secret" || s.Key.KeyType != "AES" ||
		!strings.Contains(s.Reason, "not extractable") {
		t.Errorf("skipped = %#v, want the non-extractable AES key, saying so", s)
	}

	ecBlob, err := ha.WrapKey(ctx, ec)
	if err != nil {
		t.Fatal(err)
	}
	aesBlob, err := ha.WrapKey(ctx, sk)
	if err != nil {
		t.Fatal(err)
	}
	// The point of wrapping: the key's value is not in the blob.
	if bytes.Contains(aesBlob, aesValue) || bytes.Contains(aesBlob, aesValue[:8]) {
		t.Errorf("the wrapped AES key contains its value: %x", aesBlob)
	}
	if len(aesBlob) != 40 {
		t.Errorf("wrapped AES-256 key is %d bytes, want 40 (RFC 5649: 32 bytes + 8)", len(aesBlob))
	}
	if len(ecBlob)%8 != 0 || len(ecBlob) < 40 {
		t.Errorf("wrapped EC key is %d bytes", len(ecBlob))
	}
	_, err = ha.WrapKey(ctx, skipped[0].Key)
	if !errors.Is(err, pkcs11.Error(pkcs11.CKR_KEY_UNEXTRACTABLE)) || !strings.Contains(err.Error(), "not extractable") {
		t.Errorf("wrapping the non-extractable key: %v, want CKR_KEY_UNEXTRACTABLE, saying so", err)
	}

	// Refusals first, on nodes that must be left untouched.
	refusals := []struct {
		name string
		h    *pkcs11hsm.HSM
		key  pkcs11hsm.KeyInfo
		blob []byte
		is   error
		says []string
	}{
		{"EC key, another Backup Key", hc, ec, ecBlob, pkcs11hsm.ErrUnwrap, []string{"another Backup Key or is damaged", `"backup-key-other"`, "nothing was created"}},
		{"AES key, another Backup Key", hc, sk, aesBlob, pkcs11hsm.ErrUnwrap, []string{"another Backup Key or is damaged"}},
		{"EC key, no Backup Key", hd, ec, ecBlob, pkcs11hsm.ErrNoBackupKey, []string{"load the Backup Key"}},
		{"AES key, no Backup Key", hd, sk, aesBlob, pkcs11hsm.ErrNoBackupKey, nil},
		{"EC key, a flipped byte", hb, ec, flip(ecBlob, 17), pkcs11hsm.ErrUnwrap, []string{"another Backup Key or is damaged", `"backup-key-k"`}},
		{"AES key, a flipped byte", hb, sk, flip(aesBlob, 39), pkcs11hsm.ErrUnwrap, nil},
		{"AES key, flipped in the integrity block", hb, sk, flip(aesBlob, 0), pkcs11hsm.ErrUnwrap, nil},
		{"cut short", hb, sk, aesBlob[:37], pkcs11hsm.ErrUnwrap, nil},
		{"EC key cut short", hb, ec, ecBlob[:len(ecBlob)-3], pkcs11hsm.ErrUnwrap, []string{"CKR_WRAPPED_KEY_LEN_RANGE"}},
		{"EC key cut by a block", hb, ec, ecBlob[:len(ecBlob)-8], pkcs11hsm.ErrUnwrap, nil},
		{"cut by a block", hb, sk, aesBlob[:32], pkcs11hsm.ErrUnwrap, nil},
		{"empty", hb, sk, nil, pkcs11hsm.ErrUnwrap, []string{"empty"}},
		{"AES blob described as an EC key", hb, ec, aesBlob, pkcs11hsm.ErrUnwrap, nil},
		{"EC blob described as an AES key", hb, sk, ecBlob, pkcs11hsm.ErrUnwrap, []string{"wraps to 40 bytes, not"}},
		{"cut by a block, described as 24 bytes", hb, withLen(sk, 24), aesBlob[:32], pkcs11hsm.ErrUnwrap, []string{"another Backup Key or is damaged"}},
		{"EC blob with another public key", hb, withPoint(ec, otherPoint(t, hd)), ecBlob, pkcs11hsm.ErrUnwrap,
			[]string{"does not verify", "removed again"}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.UnwrapKey(ctx, tt.key, tt.blob)
			if !errors.Is(err, tt.is) {
				t.Fatalf("UnwrapKey = %v, want %v", err, tt.is)
			}
			t.Log(err)
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			noSecrets(t, err, k, other)
			for _, id := range [][]byte{ecID, aesID} {
				if n := softhsmtest.CountObjects(t, tt.h, id); n != 0 {
					t.Errorf("%d objects with CKA_ID %q left behind", n, id)
				}
			}
		})
	}

	// Restore on node B, holding the same Backup Key.
	if err := hb.UnwrapKey(ctx, ec, ecBlob); err != nil {
		t.Fatal(err)
	}
	if err := hb.UnwrapKey(ctx, sk, aesBlob); err != nil {
		t.Fatal(err)
	}

	sigA := softhsmtest.Sign(t, ha, ecID, signedText)
	if len(sigA) != 64 {
		t.Errorf("ECDSA P-256 signature is %d bytes, want 64 (r||s)", len(sigA))
	}
	if !softhsmtest.Verify(t, hb, ecID, signedText, sigA) {
		t.Error("a signature made on A does not verify on B")
	}
	sigB := softhsmtest.Sign(t, hb, ecID, signedText)
	if !softhsmtest.Verify(t, ha, ecID, signedText, sigB) {
		t.Error("a signature made on B does not verify on A")
	}
	if softhsmtest.Verify(t, ha, ecID, []byte("another message"), sigB) {
		t.Error("a signature verifies another message")
	}

	onA := softhsmtest.EncryptBlock(t, ha, aesID, testBlock)
	onB := softhsmtest.EncryptBlock(t, hb, aesID, testBlock)
	if !bytes.Equal(onA, onB) {
		t.Errorf("AES-ECB on A %x, on B %x", onA, onB)
	}
	cipher, err := aes.NewCipher(aesValue)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 16)
	cipher.Encrypt(want, testBlock)
	if !bytes.Equal(onB, want) {
		t.Errorf("AES-ECB on B %x, crypto/aes with the known key %x", onB, want)
	}

	// A second restore is refused and changes nothing.
	for _, tt := range []struct {
		key  pkcs11hsm.KeyInfo
		blob []byte
		n    int
	}{{ec, ecBlob, 2}, {sk, aesBlob, 1}} {
		err := hb.UnwrapKey(ctx, tt.key, tt.blob)
		if !errors.Is(err, pkcs11hsm.ErrKeyExists) {
			t.Errorf("second restore of %s: %v, want ErrKeyExists", tt.key, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+tt.key.Label+`"`) || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("error %q does not name the key %q and say nothing changed", err, tt.key.Label)
		}
		if n := softhsmtest.CountObjects(t, hb, tt.key.ID); n != tt.n {
			t.Errorf("%d objects with CKA_ID %q after the refusal, want %d", n, tt.key.ID, tt.n)
		}
	}

	checkRestoredAttributes(t, hb)

	// The restored node can itself be backed up.
	again, skippedB, err := hb.KeysForBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 2 || len(skippedB) != 0 {
		t.Fatalf("on B: keys %v, skipped %v; want the two restored keys", again, skippedB)
	}
	if !bytes.Equal(again[0].ECPoint, ec.ECPoint) || again[1].ValueLen != 32 {
		t.Errorf("on B: %#v, want the same public key and length as on A", again)
	}
	if _, err := hb.WrapKey(ctx, again[0]); err != nil {
		t.Errorf("wrapping the restored EC key: %v", err)
	}
}

// checkRestoredAttributes reads back what UnwrapKey stored on h.
func checkRestoredAttributes(t *testing.T, h *pkcs11hsm.HSM) {
	t.Helper()
	type want struct {
		class uint
		id    []byte
		attrs map[uint]bool
	}
	checks := []want{
		{pkcs11.CKO_PRIVATE_KEY, ecID, map[uint]bool{
			pkcs11.CKA_TOKEN: true, pkcs11.CKA_PRIVATE: true, pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_EXTRACTABLE: true,
			pkcs11.CKA_SIGN: true, pkcs11.CKA_DECRYPT: false, pkcs11.CKA_LOCAL: false,
		}},
		{pkcs11.CKO_PUBLIC_KEY, ecID, map[uint]bool{pkcs11.CKA_TOKEN: true, pkcs11.CKA_PRIVATE: false, pkcs11.CKA_VERIFY: true}},
		{pkcs11.CKO_SECRET_KEY, aesID, map[uint]bool{
			pkcs11.CKA_TOKEN: true, pkcs11.CKA_PRIVATE: true, pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_EXTRACTABLE: true,
			pkcs11.CKA_ENCRYPT: true, pkcs11.CKA_DECRYPT: true, pkcs11.CKA_WRAP: false, pkcs11.CKA_UNWRAP: false,
		}},
	}
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		for _, w := range checks {
			if err := ctx.FindObjectsInit(s, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, w.class),
				pkcs11.NewAttribute(pkcs11.CKA_ID, w.id),
			}); err != nil {
				return err
			}
			objs, _, err := ctx.FindObjects(s, 4)
			if ferr := ctx.FindObjectsFinal(s); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			if len(objs) != 1 {
				t.Errorf("%d objects of class %d with CKA_ID %q, want 1", len(objs), w.class, w.id)
				continue
			}
			for typ, v := range w.attrs {
				a, err := ctx.GetAttributeValue(s, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
				if err != nil {
					return err
				}
				if got := bytes.Equal(a[0].Value, []byte{1}); got != v {
					t.Errorf("class %d %q: attribute %#x = %x, want %v", w.class, w.id, typ, a[0].Value, v)
				}
			}
			a, err := ctx.GetAttributeValue(s, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
			if err != nil {
				return err
			}
			if l := string(a[0].Value); l != "signing" && l != "data" {
				t.Errorf("class %d %q: label %q", w.class, w.id, l)
			}
		}
		// The restored secret stays secret.
		if err := ctx.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, aesID)}); err != nil {
			return err
		}
		objs, _, err := ctx.FindObjects(s, 4)
		_ = ctx.FindObjectsFinal(s)
		if err != nil || len(objs) != 1 {
			return errors.Join(err, errors.New("the restored AES key is not there once"))
		}
		_, err = ctx.GetAttributeValue(s, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
			t.Errorf("reading the restored key's CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

func withLen(k pkcs11hsm.KeyInfo, n int) pkcs11hsm.KeyInfo {
	k.ValueLen = n
	return k
}

func withPoint(k pkcs11hsm.KeyInfo, point []byte) pkcs11hsm.KeyInfo {
	k.ECPoint = point
	return k
}

// otherPoint is the public point of a fresh P-256 key on h, then removed.
func otherPoint(t *testing.T, h *pkcs11hsm.HSM) []byte {
	t.Helper()
	id := []byte("throwaway")
	softhsmtest.GenerateECKey(t, h, "throwaway", id)
	keys, _, err := h.KeysForBackup(context.Background())
	if err != nil || len(keys) != 1 {
		t.Fatalf("KeysForBackup: %v, %v", keys, err)
	}
	destroyAll(t, h, id)
	return keys[0].ECPoint
}

// destroyAll removes every object with CKA_ID id.
func destroyAll(t *testing.T, h *pkcs11hsm.HSM, id []byte) {
	t.Helper()
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		if err := ctx.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id)}); err != nil {
			return err
		}
		objs, _, err := ctx.FindObjects(s, 16)
		if ferr := ctx.FindObjectsFinal(s); err == nil {
			err = ferr
		}
		for _, o := range objs {
			err = errors.Join(err, ctx.DestroyObject(s, o))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBackupAndRestoreRSA(t *testing.T) {
	ctx := context.Background()
	a := softhsmtest.New(t, "rsa-a")
	b := a.Add(t, "rsa-b")
	ha, hb := open(t, a.Config()), open(t, b.Config())
	k := randomKey(t)
	importBackupKey(t, ha, "backup-key-k", k)
	importBackupKey(t, hb, "backup-key-k", k)
	id := []byte{0x01, 0x02, 0xff}
	softhsmtest.GenerateRSAKey(t, ha, "rsa signing", id)

	keys, skipped, err := ha.KeysForBackup(ctx)
	if err != nil || len(keys) != 1 || len(skipped) != 0 {
		t.Fatalf("KeysForBackup: %v, %v, %v", keys, skipped, err)
	}
	rsa := keys[0]
	if rsa.Class != "private" || rsa.KeyType != "RSA" || len(rsa.Modulus) != 256 || !bytes.Equal(rsa.PublicExponent, []byte{1, 0, 1}) {
		t.Fatalf("key = %#v, want an RSA-2048 private key with exponent 65537", rsa)
	}
	blob, err := ha.WrapKey(ctx, rsa)
	if err != nil {
		t.Fatal(err)
	}
	bad := rsa
	bad.Modulus = append([]byte(nil), rsa.Modulus...)
	bad.Modulus[100] ^= 1
	if err := hb.UnwrapKey(ctx, bad, blob); !errors.Is(err, pkcs11hsm.ErrUnwrap) || !strings.Contains(err.Error(), "modulus") {
		t.Errorf("restore with another modulus: %v, want ErrUnwrap naming the modulus", err)
	}
	if n := softhsmtest.CountObjects(t, hb, id); n != 0 {
		t.Errorf("%d objects left behind", n)
	}
	if err := hb.UnwrapKey(ctx, rsa, blob); err != nil {
		t.Fatal(err)
	}
	if !softhsmtest.Verify(t, hb, id, signedText, softhsmtest.Sign(t, ha, id, signedText)) {
		t.Error("an RSA signature made on A does not verify on B")
	}
	if !softhsmtest.Verify(t, ha, id, signedText, softhsmtest.Sign(t, hb, id, signedText)) {
		t.Error("an RSA signature made on B does not verify on A")
	}
}

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

func removeClass(t *testing.T, h *pkcs11hsm.HSM, id []byte, class uint) {
	t.Helper()
	err := h.WithSession(func(c *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		if err := c.FindObjectsInit(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		}); err != nil {
			return err
		}
		objs, _, err := c.FindObjects(s, 4)
		if ferr := c.FindObjectsFinal(s); err == nil {
			err = ferr
		}
		if err == nil && len(objs) != 1 {
			err = errors.New("not exactly one object")
		}
		if err != nil {
			return err
		}
		return c.DestroyObject(s, objs[0])
	})
	if err != nil {
		t.Fatal(err)
	}
}

func swapPublicIDs(t *testing.T, h *pkcs11hsm.HSM, id1, id2 []byte) {
	t.Helper()
	err := h.WithSession(func(c *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		var pubs []pkcs11.ObjectHandle
		for _, id := range [][]byte{id1, id2} {
			if err := c.FindObjectsInit(s, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			}); err != nil {
				return err
			}
			objs, _, err := c.FindObjects(s, 4)
			if ferr := c.FindObjectsFinal(s); err == nil {
				err = ferr
			}
			if err != nil || len(objs) != 1 {
				return errors.Join(err, errors.New("not exactly one public key"))
			}
			pubs = append(pubs, objs[0])
		}
		if err := c.SetAttributeValue(s, pubs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id2)}); err != nil {
			return err
		}
		return c.SetAttributeValue(s, pubs[1], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id1)})
	})
	if err != nil {
		t.Fatal(err)
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

func TestGenericSecretRestore(t *testing.T) {
	ctx := context.Background()
	a := softhsmtest.New(t, "generic-a")
	b := a.Add(t, "generic-b")
	ha, hb := open(t, a.Config()), open(t, b.Config())
	k := randomKey(t)
	importBackupKey(t, ha, "backup-key", k)
	importBackupKey(t, hb, "backup-key", k)
	value := bytes.Repeat([]byte{0x3c}, 20) // an HMAC-SHA1 key of 20 bytes: not a multiple of 8
	err := ha.WithSession(func(c *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		_, err := c.CreateObject(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "hmac"),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("hmac")),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := ha.KeysForBackup(ctx)
	if err != nil || len(keys) != 1 || keys[0].KeyType != "GENERIC_SECRET" || keys[0].ValueLen != 20 {
		t.Fatalf("KeysForBackup: %#v, %v", keys, err)
	}
	blob, err := ha.WrapKey(ctx, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, value[:8]) {
		t.Errorf("the wrapped key contains its value")
	}
	if err := hb.UnwrapKey(ctx, keys[0], blob); err != nil {
		t.Fatal(err)
	}
	mac := func(h *pkcs11hsm.HSM) []byte {
		var out []byte
		err := h.WithSession(func(c *pkcs11.Ctx, s pkcs11.SessionHandle) error {
			if err := c.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("hmac"))}); err != nil {
				return err
			}
			objs, _, err := c.FindObjects(s, 2)
			_ = c.FindObjectsFinal(s)
			if err != nil || len(objs) != 1 {
				return errors.Join(err, errors.New("not one key"))
			}
			if err := c.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_SHA_1_HMAC, nil)}, objs[0]); err != nil {
				return err
			}
			out, err = c.Sign(s, signedText)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if !bytes.Equal(mac(ha), mac(hb)) {
		t.Error("HMAC-SHA1 differs between A and the restored key on B")
	}
	// SoftHSM2 leaves CKA_VALUE_LEN 0 on the restored key (its issue #628),
	// and a generic secret's length cannot be measured exactly, so B
	// cannot back it up again.
	again, skipped, err := hb.KeysForBackup(ctx)
	if err != nil || len(again) != 0 || len(skipped) != 1 || !strings.Contains(skipped[0].Reason, "CKA_VALUE_LEN 0") {
		t.Errorf("on B: %v, %v, %v; want the generic secret skipped for its unknown length", again, skipped, err)
	}
}
