package softhsmtest

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
)

// Key helpers: they put keys on the token behind an open pkcs11hsm.HSM and
// use them, through HSM.WithSession. Each fails the test on any error.
// Keys are token objects, found again by class and CKA_ID.

// P256 is the DER of the OID of the NIST P-256 curve (CKA_EC_PARAMS).
var P256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// GenerateECKey makes an extractable token EC P-256 key pair labelled
// label with CKA_ID id: the private key sensitive, private and able to
// sign, the public key able to verify.
func GenerateECKey(t testing.TB, h *pkcs11hsm.HSM, label string, id []byte) {
	t.Helper()
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		_, _, err := ctx.GenerateKeyPair(s,
			[]*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
				pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, P256),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
				pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
				pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			})
		return err
	})
	if err != nil {
		t.Fatalf("softhsmtest: generate EC P-256 key pair %q: %v", label, err)
	}
}

// GenerateRSAKey makes an extractable token RSA-2048 key pair (exponent
// 65537) labelled label with CKA_ID id: the private key sensitive, private
// and able to sign and decrypt, the public key able to verify and encrypt.
func GenerateRSAKey(t testing.TB, h *pkcs11hsm.HSM, label string, id []byte) {
	t.Helper()
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		_, _, err := ctx.GenerateKeyPair(s,
			[]*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
				pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
				pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
				pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048),
				pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
				pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
				pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
				pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			})
		return err
	})
	if err != nil {
		t.Fatalf("softhsmtest: generate RSA-2048 key pair %q: %v", label, err)
	}
}

// GenerateAESKey makes a token AES-256 key labelled label with CKA_ID id,
// sensitive, private, able to encrypt and decrypt, and extractable or not.
func GenerateAESKey(t testing.TB, h *pkcs11hsm.HSM, label string, id []byte, extractable bool) {
	t.Helper()
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		_, err := ctx.GenerateKey(s,
			[]*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)},
			append(aesTemplate(label, id, extractable), pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32)))
		return err
	})
	if err != nil {
		t.Fatalf("softhsmtest: generate AES key %q: %v", label, err)
	}
}

// ImportAESKey stores value (16, 24 or 32 bytes) as a token AES key like
// GenerateAESKey's, for tests that need to know the key.
func ImportAESKey(t testing.TB, h *pkcs11hsm.HSM, label string, id []byte, value []byte, extractable bool) {
	t.Helper()
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		_, err := ctx.CreateObject(s, append(aesTemplate(label, id, extractable),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, append([]byte(nil), value...))))
		return err
	})
	if err != nil {
		t.Fatalf("softhsmtest: import AES key %q: %v", label, err)
	}
}

func aesTemplate(label string, id []byte, extractable bool) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, extractable),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
}

// Sign signs msg with the token private key whose CKA_ID is id, inside the
// HSM. An EC key signs msg's SHA-256 digest with CKM_ECDSA and the result
// is the raw r||s signature; an RSA key signs with CKM_SHA256_RSA_PKCS.
func Sign(t testing.TB, h *pkcs11hsm.HSM, id []byte, msg []byte) []byte {
	t.Helper()
	var sig []byte
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		key, keyType, err := findOne(ctx, s, pkcs11.CKO_PRIVATE_KEY, id)
		if err != nil {
			return err
		}
		mech, data, err := signing(keyType, msg)
		if err != nil {
			return err
		}
		if err := ctx.SignInit(s, mech, key); err != nil {
			return fmt.Errorf("C_SignInit: %w", err)
		}
		sig, err = ctx.Sign(s, data)
		if err != nil {
			return fmt.Errorf("C_Sign: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("softhsmtest: sign with the private key %x: %v", id, err)
	}
	return sig
}

// Verify verifies sig over msg with the token public key whose CKA_ID is
// id, inside the HSM (as Sign made it: CKM_ECDSA over the SHA-256 digest,
// or CKM_SHA256_RSA_PKCS). A bad signature is false; other errors fail t.
func Verify(t testing.TB, h *pkcs11hsm.HSM, id []byte, msg, sig []byte) bool {
	t.Helper()
	ok := false
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		key, keyType, err := findOne(ctx, s, pkcs11.CKO_PUBLIC_KEY, id)
		if err != nil {
			return err
		}
		mech, data, err := signing(keyType, msg)
		if err != nil {
			return err
		}
		if err := ctx.VerifyInit(s, mech, key); err != nil {
			return fmt.Errorf("C_VerifyInit: %w", err)
		}
		err = ctx.Verify(s, data, sig)
		switch {
		case err == nil:
			ok = true
		case errors.Is(err, pkcs11.Error(pkcs11.CKR_SIGNATURE_INVALID)), errors.Is(err, pkcs11.Error(pkcs11.CKR_SIGNATURE_LEN_RANGE)):
		default:
			return fmt.Errorf("C_Verify: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("softhsmtest: verify with the public key %x: %v", id, err)
	}
	return ok
}

// EncryptBlock encrypts block (a multiple of 16 bytes) with CKM_AES_ECB
// under the token AES key whose CKA_ID is id, inside the HSM.
func EncryptBlock(t testing.TB, h *pkcs11hsm.HSM, id []byte, block []byte) []byte {
	t.Helper()
	var out []byte
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		key, _, err := findOne(ctx, s, pkcs11.CKO_SECRET_KEY, id)
		if err != nil {
			return err
		}
		if err := ctx.EncryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_ECB, nil)}, key); err != nil {
			return fmt.Errorf("C_EncryptInit: %w", err)
		}
		out, err = ctx.Encrypt(s, block)
		if err != nil {
			return fmt.Errorf("C_Encrypt: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("softhsmtest: encrypt with the AES key %x: %v", id, err)
	}
	return out
}

// CountObjects is the number of token objects with CKA_ID id (any class).
func CountObjects(t testing.TB, h *pkcs11hsm.HSM, id []byte) int {
	t.Helper()
	var n int
	err := h.WithSession(func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		objs, err := findAll(ctx, s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		})
		n = len(objs)
		return err
	})
	if err != nil {
		t.Fatalf("softhsmtest: count the objects with CKA_ID %x: %v", id, err)
	}
	return n
}

func signing(keyType uint, msg []byte) ([]*pkcs11.Mechanism, []byte, error) {
	switch keyType {
	case pkcs11.CKK_EC:
		digest := sha256.Sum256(msg)
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, digest[:], nil
	case pkcs11.CKK_RSA:
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_SHA256_RSA_PKCS, nil)}, msg, nil
	}
	return nil, nil, fmt.Errorf("key type %#x cannot sign here (EC and RSA can)", keyType)
}

// findOne returns the one token object of class with CKA_ID id, and its
// key type.
func findOne(ctx *pkcs11.Ctx, s pkcs11.SessionHandle, class uint, id []byte) (pkcs11.ObjectHandle, uint, error) {
	objs, err := findAll(ctx, s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return 0, 0, err
	}
	if len(objs) != 1 {
		return 0, 0, fmt.Errorf("%d objects of class %#x with this CKA_ID, want 1", len(objs), class)
	}
	a, err := ctx.GetAttributeValue(s, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil)})
	if err != nil {
		return 0, 0, fmt.Errorf("read CKA_KEY_TYPE: %w", err)
	}
	return objs[0], ulong(a[0].Value), nil
}

func findAll(ctx *pkcs11.Ctx, s pkcs11.SessionHandle, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := ctx.FindObjectsInit(s, template); err != nil {
		return nil, fmt.Errorf("C_FindObjectsInit: %w", err)
	}
	var all []pkcs11.ObjectHandle
	var ferr error
	for {
		objs, _, err := ctx.FindObjects(s, 64)
		if err != nil {
			ferr = fmt.Errorf("C_FindObjects: %w", err)
			break
		}
		if len(objs) == 0 {
			break
		}
		all = append(all, objs...)
	}
	if err := ctx.FindObjectsFinal(s); err != nil && ferr == nil {
		ferr = fmt.Errorf("C_FindObjectsFinal: %w", err)
	}
	return all, ferr
}

// ulong decodes a CK_ULONG attribute value (native byte order, as
// pkcs11.NewAttribute encodes it).
func ulong(v []byte) uint {
	switch len(v) {
	case 8:
		return uint(binary.NativeEndian.Uint64(v))
	case 4:
		return uint(binary.NativeEndian.Uint32(v))
	}
	return ^uint(0)
}
