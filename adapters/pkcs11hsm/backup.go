package pkcs11hsm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/miekg/pkcs11"
)

// Backup and restore of the token's keys (ARCHITECTURE.md, "Hardware":
// whenever data leaves the HSM, it is encrypted with the Backup Key). A
// key leaves the token only as C_WrapKey output under the Backup Key with
// CKM_AES_KEY_WRAP_PAD (RFC 5649), and comes back only through
// C_UnwrapKey under the same Backup Key on the restoring token.

// Skipped is a key KeysForBackup found but cannot back up, and why.
type Skipped struct {
	Key    KeyInfo
	Reason string
}

// KeysForBackup lists the token's keys marked for backup: token private
// and secret keys with CKA_EXTRACTABLE true, excluding the Backup Key
// itself. Keys that cannot be backed up are returned in skipped with
// their reason: not extractable (they cannot leave the HSM), only
// wrappable with a trusted key, of a type restore cannot recreate, a
// private key without its public key object, or two keys of one class
// sharing a CKA_ID (a restore could recreate only one). Both lists are
// sorted by class, label and CKA_ID.
func (h *HSM) KeysForBackup(ctx context.Context) (keys []KeyInfo, skipped []Skipped, err error) {
	keys, skipped, err = h.keysForBackup(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("pkcs11hsm %s: list the keys to back up: %w", h.name, err)
	}
	return keys, skipped, nil
}

func (h *HSM) keysForBackup(ctx context.Context) ([]KeyInfo, []Skipped, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.begin(ctx); err != nil {
		return nil, nil, err
	}
	// The Backup Key, if there is exactly one, measures secret keys whose
	// length the token does not tell.
	var backup pkcs11.ObjectHandle
	if bks, err := h.findBackupKeys(); err != nil {
		return nil, nil, err
	} else if len(bks) == 1 {
		backup = bks[0]
	}
	var keys []KeyInfo
	var skipped []Skipped
	for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_SECRET_KEY} {
		objs, err := h.findObjects("list the token's keys", []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		})
		if err != nil {
			return nil, nil, err
		}
		for _, obj := range objs {
			k, reason, err := h.describeForBackup(obj, class, backup)
			switch {
			case err != nil:
				return nil, nil, err
			case k.Class == ClassSecret && string(k.ID) == BackupKeyID:
				// The Backup Key, or a key posing as it: never backed up.
			case reason != "":
				skipped = append(skipped, Skipped{Key: k, Reason: reason})
			default:
				keys = append(keys, k)
			}
		}
	}
	// A restore refuses a second key of one class with one CKA_ID, so a
	// backup holding both could never be restored whole.
	var unique []KeyInfo
	for _, k := range keys {
		n := 0
		for _, o := range keys {
			if o.Class == k.Class && bytes.Equal(o.ID, k.ID) {
				n++
			}
		}
		if n > 1 {
			skipped = append(skipped, Skipped{Key: k, Reason: fmt.Sprintf(
				"%d %s keys share CKA_ID %s; a restore could recreate only one of them: give each its own CKA_ID", n, k.Class, formatID(k.ID))})
			continue
		}
		unique = append(unique, k)
	}
	sortKeys(unique)
	slices.SortFunc(skipped, func(a, b Skipped) int { return compareKeys(a.Key, b.Key) })
	return unique, skipped, nil
}

// describeForBackup reads obj's description; reason says why it cannot be
// backed up, or is empty. The caller holds h.mu.
func (h *HSM) describeForBackup(obj pkcs11.ObjectHandle, class uint, backup pkcs11.ObjectHandle) (KeyInfo, string, error) {
	attrs, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
	})
	if err != nil {
		return KeyInfo{}, "", translate("read a key's label, CKA_ID, type and CKA_EXTRACTABLE", err)
	}
	k := KeyInfo{Label: string(attrs[0].Value), ID: attrs[1].Value, Class: className(class)}
	keyType, ok := ulongOf(attrs[2].Value)
	k.KeyType = keyTypeName(keyType)
	if !ok {
		k.KeyType = "unknown"
	}
	if !isTrue(attrs[3].Value) {
		return k, "not extractable (CKA_EXTRACTABLE false): it cannot leave the HSM", nil
	}
	if trusted, err := h.boolAttr(obj, pkcs11.CKA_WRAP_WITH_TRUSTED); err != nil {
		return k, "", err
	} else if trusted {
		return k, "may only be wrapped with a trusted key (CKA_WRAP_WITH_TRUSTED), and the Backup Key is not one", nil
	}
	if !supportedForBackup(k) {
		return k, fmt.Sprintf("key type %s is not supported for backup (supported: EC and RSA private keys, AES and generic secret keys)", k.KeyType), nil
	}
	switch k.KeyType {
	case KeyTypeAES, KeyTypeGenericSecret:
		a, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil)})
		if err != nil {
			return k, "", translate(fmt.Sprintf("read the length of %s", k), err)
		}
		n, ok := ulongOf(a[0].Value)
		if ok && n > 0 {
			k.ValueLen = int(n)
		} else if reason, err := h.measureSecret(obj, &k, backup); reason != "" || err != nil {
			return k, reason, err
		}
		if k.KeyType == KeyTypeAES && !validAESLen(k.ValueLen) {
			return k, fmt.Sprintf("an AES key of %d bytes (want 16, 24 or 32)", k.ValueLen), nil
		}
	case KeyTypeRSA:
		a, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return k, "", translate(fmt.Sprintf("read the modulus and public exponent of %s", k), err)
		}
		k.Modulus, k.PublicExponent = a[0].Value, a[1].Value
		if len(k.Modulus) == 0 || len(k.PublicExponent) == 0 {
			return k, "the token does not tell its modulus and public exponent, so its public key could not be recreated on restore", nil
		}
	case KeyTypeEC:
		return h.describeEC(obj, k)
	}
	return k, "", nil
}

// measureSecret finds the length of a secret key whose CKA_VALUE_LEN
// reads 0, as SoftHSM2 (2.6.1, issue #628) leaves it on every key made by
// C_UnwrapKey, that is on every restored key. Wrapped with
// CKM_AES_KEY_WRAP_PAD a key of n bytes is 8*ceil(n/8)+8 bytes long
// (RFC 5649), which is exact for an AES key (16, 24 or 32 bytes) but
// leaves a generic secret's length uncertain by up to 7 bytes: such a key
// is skipped. The wrapped bytes are discarded.
func (h *HSM) measureSecret(obj pkcs11.ObjectHandle, k *KeyInfo, backup pkcs11.ObjectHandle) (string, error) {
	if k.KeyType != KeyTypeAES {
		return "the token does not tell its length (CKA_VALUE_LEN 0, as SoftHSM2 leaves it on restored keys), and a restore needs it", nil
	}
	if backup == 0 {
		return "the token does not tell its length (CKA_VALUE_LEN 0) and, without a Backup Key, it cannot be measured", nil
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}
	wrapped, err := h.mod.ctx.WrapKey(h.session, mech, backup, obj)
	if err != nil {
		return "", translate(fmt.Sprintf("measure %s, whose CKA_VALUE_LEN is 0 (C_WrapKey under the Backup Key)", k), err)
	}
	k.ValueLen = len(wrapped) - 8
	if !validAESLen(k.ValueLen) {
		return fmt.Sprintf("an AES key of about %d bytes (want 16, 24 or 32)", k.ValueLen), nil
	}
	return "", nil
}

// describeEC fills in the public part of the EC private key obj from its
// public key object (same CKA_ID, same curve), checking with a signature
// made and verified inside the HSM that the two belong together, when
// both may be used for that.
func (h *HSM) describeEC(obj pkcs11.ObjectHandle, k KeyInfo) (KeyInfo, string, error) {
	a, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil)})
	if err != nil {
		return k, "", translate(fmt.Sprintf("read the curve of %s", k), err)
	}
	k.ECParams = a[0].Value
	pubs, err := h.findObjects(fmt.Sprintf("look for the public key of %s", k), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, k.ID),
	})
	if err != nil {
		return k, "", err
	}
	var pub pkcs11.ObjectHandle
	for _, p := range pubs {
		a, err := h.mod.ctx.GetAttributeValue(h.session, p, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
		})
		if err != nil {
			return k, "", translate(fmt.Sprintf("read the public key of %s", k), err)
		}
		if !bytes.Equal(a[0].Value, k.ECParams) {
			continue // another curve: not this key's
		}
		if k.ECPoint != nil && !bytes.Equal(k.ECPoint, a[1].Value) {
			return k, fmt.Sprintf("two different public key objects carry its CKA_ID %s, so which one is its public key is unclear", formatID(k.ID)), nil
		}
		k.ECPoint, pub = a[1].Value, p
	}
	if len(k.ECPoint) == 0 {
		return k, fmt.Sprintf("no public key object with its CKA_ID %s on its curve, so its public key could not be recreated on restore", formatID(k.ID)), nil
	}
	canSign, err := h.boolAttr(obj, pkcs11.CKA_SIGN)
	if err != nil {
		return k, "", err
	}
	canVerify, err := h.boolAttr(pub, pkcs11.CKA_VERIFY)
	if err != nil {
		return k, "", err
	}
	// A key that wants its PIN again for each use is not tried.
	alwaysAuth, err := h.boolAttr(obj, pkcs11.CKA_ALWAYS_AUTHENTICATE)
	if err != nil {
		return k, "", err
	}
	if canSign && canVerify && !alwaysAuth {
		match, err := h.pairMatches(obj, pub, k)
		if err != nil {
			return k, "", err
		}
		if !match {
			return k, fmt.Sprintf("the public key object with its CKA_ID %s does not verify its signatures, so it is another key's", formatID(k.ID)), nil
		}
	}
	return k, "", nil
}

// pairMatches signs a fixed digest with the private key and verifies it
// with the public key, inside the HSM.
func (h *HSM) pairMatches(priv, pub pkcs11.ObjectHandle, k KeyInfo) (bool, error) {
	digest := sha256.Sum256([]byte("ceremony: does this public key belong to this private key?"))
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
	if err := h.mod.ctx.SignInit(h.session, mech, priv); err != nil {
		return false, translate(fmt.Sprintf("check the key pair of %s (C_SignInit, CKM_ECDSA)", k), err)
	}
	sig, err := h.mod.ctx.Sign(h.session, digest[:])
	if err != nil {
		return false, translate(fmt.Sprintf("check the key pair of %s (C_Sign, CKM_ECDSA)", k), err)
	}
	if err := h.mod.ctx.VerifyInit(h.session, mech, pub); err != nil {
		return false, translate(fmt.Sprintf("check the key pair of %s (C_VerifyInit, CKM_ECDSA)", k), err)
	}
	err = h.mod.ctx.Verify(h.session, digest[:], sig)
	switch {
	case err == nil:
		return true, nil
	case isRV(err, pkcs11.CKR_SIGNATURE_INVALID), isRV(err, pkcs11.CKR_SIGNATURE_LEN_RANGE):
		return false, nil
	default:
		return false, translate(fmt.Sprintf("check the key pair of %s (C_Verify, CKM_ECDSA)", k), err)
	}
}

// WrapKey wraps the key named by k (found by class + CKA_ID + label) under
// the Backup Key with CKM_AES_KEY_WRAP_PAD (0x210A). It is an error if the
// token has no Backup Key (ErrNoBackupKey), has no such key
// (ErrKeyNotFound), or has more than one (ErrKeyNotUnique).
func (h *HSM) WrapKey(ctx context.Context, k KeyInfo) ([]byte, error) {
	wrapped, err := h.wrapKey(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("pkcs11hsm %s: back up %s: %w", h.name, k, err)
	}
	return wrapped, nil
}

func (h *HSM) wrapKey(ctx context.Context, k KeyInfo) ([]byte, error) {
	class, keyType, err := pkcs11ClassAndType(k)
	if err != nil {
		return nil, err
	}
	if k.Class == ClassSecret && string(k.ID) == BackupKeyID {
		return nil, fmt.Errorf("%w: CKA_ID %q is the Backup Key's, and the Backup Key never leaves the HSM", ErrKeyInfo, BackupKeyID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.begin(ctx); err != nil {
		return nil, err
	}
	backup, err := h.theBackupKey("back up a key")
	if err != nil {
		return nil, err
	}
	objs, err := h.findObjects("look for the key", []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, k.ID),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.Label),
	})
	if err != nil {
		return nil, err
	}
	switch len(objs) {
	case 1:
	case 0:
		return nil, fmt.Errorf("%w: no token key has this class, type, label and CKA_ID: list the keys again", ErrKeyNotFound)
	default:
		return nil, fmt.Errorf("%w: %d token keys have this class, type, label and CKA_ID: give each its own CKA_ID; nothing was wrapped", ErrKeyNotUnique, len(objs))
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}
	wrapped, err := h.mod.ctx.WrapKey(h.session, mech, backup, objs[0])
	switch {
	case err == nil:
	case isRV(err, pkcs11.CKR_KEY_UNEXTRACTABLE):
		return nil, fmt.Errorf("it is not extractable (CKA_EXTRACTABLE false), so it cannot leave the HSM: %w", err)
	case isRV(err, pkcs11.CKR_KEY_NOT_WRAPPABLE):
		return nil, fmt.Errorf("the token will not wrap it under the Backup Key (it may only be wrapped with a trusted key): %w", err)
	case isRV(err, pkcs11.CKR_MECHANISM_INVALID):
		return nil, fmt.Errorf("the token does not offer CKM_AES_KEY_WRAP_PAD (0x210A) for wrapping: %w", err)
	default:
		return nil, translate("C_WrapKey under the Backup Key (CKM_AES_KEY_WRAP_PAD)", err)
	}
	if len(wrapped) == 0 {
		return nil, fmt.Errorf("C_WrapKey returned nothing: %w", ErrDevice)
	}
	return wrapped, nil
}
