package pkcs11hsm_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

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
