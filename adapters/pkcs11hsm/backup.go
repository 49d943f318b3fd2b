package pkcs11hsm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/miekg/pkcs11"
)

// Backup and restore of the token's keys (design section 6: whenever data
// leaves the HSM, it is encrypted with the Backup Key). A key leaves the
// token only as C_WrapKey output under the Backup Key with
// CKM_AES_KEY_WRAP_PAD (RFC 5649), and comes back only through
// C_UnwrapKey under the same Backup Key on the restoring token.

// Key classes and types as KeyInfo names them.
const (
	ClassPrivate = "private"
	ClassSecret  = "secret"

	KeyTypeEC            = "EC"
	KeyTypeRSA           = "RSA"
	KeyTypeAES           = "AES"
	KeyTypeGenericSecret = "GENERIC_SECRET"
)

// KeyInfo names one key object (no key material). Public holds, for a
// private key, the public part needed to recreate it on restore (EC:
// CKA_EC_PARAMS and CKA_EC_POINT DER; RSA: modulus and public exponent); it
// is not secret.
type KeyInfo struct {
	Label                   string
	ID                      []byte
	Class                   string // "private" or "secret"
	KeyType                 string // "EC", "RSA", "AES", "GENERIC_SECRET"
	ECParams, ECPoint       []byte // EC only
	Modulus, PublicExponent []byte // RSA only
	ValueLen                int    // AES / generic secret length in bytes
}

// String describes the key for messages: class, type, label and CKA_ID.
func (k KeyInfo) String() string {
	return fmt.Sprintf("%s %s key %q (CKA_ID %s)", k.Class, k.KeyType, k.Label, formatID(k.ID))
}

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
		objs, err := h.find("list the token's keys", []*pkcs11.Attribute{
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
	if !supported(k) {
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

// wrappedLen is the length of a key of n bytes wrapped with
// CKM_AES_KEY_WRAP_PAD (RFC 5649).
func wrappedLen(n int) int { return 8*((n+7)/8) + 8 }

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
	pubs, err := h.find(fmt.Sprintf("look for the public key of %s", k), []*pkcs11.Attribute{
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
	class, keyType, err := checkKind(k)
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
	objs, err := h.find("look for the key", []*pkcs11.Attribute{
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

// UnwrapKey unwraps wrapped, made by WrapKey under the same Backup Key,
// into a new token key with k's label, CKA_ID, class and type: sensitive,
// private, extractable (so the restored token can itself be backed up),
// usable to sign (EC, RSA, generic secret), decrypt (RSA, AES) and encrypt
// (AES). For a private key it also creates the public key object (CKA_VERIFY
// true) from k's public fields, and checks the two belong together.
//
// It refuses with ErrKeyExists, naming the key, when a key of the same
// class and CKA_ID (or, for a private key, a public key with its CKA_ID)
// is already on the token; with ErrNoBackupKey when the token has none;
// and with ErrUnwrap when the blob was made under another Backup Key, is
// damaged, or does not match k. In each case nothing is left on the token.
func (h *HSM) UnwrapKey(ctx context.Context, k KeyInfo, wrapped []byte) error {
	if err := h.unwrapKey(ctx, k, wrapped); err != nil {
		return fmt.Errorf("pkcs11hsm %s: restore %s: %w", h.name, k, err)
	}
	return nil
}

func (h *HSM) unwrapKey(ctx context.Context, k KeyInfo, wrapped []byte) error {
	class, keyType, err := checkKind(k)
	if err != nil {
		return err
	}
	if err := checkRestorable(k); err != nil {
		return err
	}
	if len(wrapped) == 0 {
		return fmt.Errorf("%w: the wrapped key is empty; nothing was created", ErrUnwrap)
	}
	if k.Class == ClassSecret && len(wrapped) != wrappedLen(k.ValueLen) {
		return fmt.Errorf("%w: a %d-byte key wraps to %d bytes, not %d; nothing was created", ErrUnwrap, k.ValueLen, wrappedLen(k.ValueLen), len(wrapped))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.begin(ctx); err != nil {
		return err
	}
	backup, err := h.theBackupKey("restore a key")
	if err != nil {
		return err
	}
	if err := h.refuseExisting(k, class); err != nil {
		return err
	}

	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}
	obj, err := h.mod.ctx.UnwrapKey(h.session, mech, backup, wrapped, unwrapTemplate(k, class, keyType))
	if err != nil {
		return h.unwrapError(backup, err)
	}
	if err := h.checkUnwrapped(obj, k); err != nil {
		return h.undo(err, k, obj)
	}
	if class != pkcs11.CKO_PRIVATE_KEY {
		return nil
	}
	pub, err := h.mod.ctx.CreateObject(h.session, publicTemplate(k))
	if err != nil {
		return h.undo(translate("create the public key object (C_CreateObject)", err), k, obj)
	}
	if k.KeyType == KeyTypeEC {
		match, err := h.pairMatches(obj, pub, k)
		if err == nil && !match {
			err = fmt.Errorf("%w: the public key in the backup does not verify the restored private key's signatures", ErrUnwrap)
		}
		if err != nil {
			return h.undo(err, k, obj, pub)
		}
	}
	return nil
}

// refuseExisting refuses a restore over a key already on the token.
func (h *HSM) refuseExisting(k KeyInfo, class uint) error {
	classes := []uint{class}
	if class == pkcs11.CKO_PRIVATE_KEY {
		classes = append(classes, pkcs11.CKO_PUBLIC_KEY)
	}
	for _, c := range classes {
		objs, err := h.find("look for a key already there", []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, c),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, k.ID),
		})
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			continue
		}
		var names []string
		for _, obj := range objs {
			a, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
			})
			if err != nil {
				names = append(names, "(unreadable)")
				continue
			}
			t, _ := ulongOf(a[1].Value)
			names = append(names, fmt.Sprintf("%s key %q", keyTypeName(t), string(a[0].Value)))
		}
		return fmt.Errorf("%w: the token already holds the %s %s with CKA_ID %s; restoring over it is refused, nothing was changed: remove it first if it is to be replaced",
			ErrKeyExists, className(c), strings.Join(names, " and the "), formatID(k.ID))
	}
	return nil
}

// unwrapError explains a failed C_UnwrapKey. SoftHSM2 answers a failed
// integrity check of CKM_AES_KEY_WRAP_PAD (another key, a changed byte)
// with CKR_GENERAL_ERROR, and a blob that unwraps but is not a key of the
// type asked for with CKR_FUNCTION_FAILED; so for those the Backup Key is
// tried on a zero block: if the HSM computes with it, the blob is at fault.
func (h *HSM) unwrapError(backup pkcs11.ObjectHandle, err error) error {
	blob := false
	switch {
	case isRV(err, pkcs11.CKR_WRAPPED_KEY_INVALID), isRV(err, pkcs11.CKR_WRAPPED_KEY_LEN_RANGE),
		isRV(err, pkcs11.CKR_ENCRYPTED_DATA_INVALID), isRV(err, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE),
		isRV(err, pkcs11.CKR_DATA_INVALID), isRV(err, pkcs11.CKR_DATA_LEN_RANGE):
		blob = true
	case isRV(err, pkcs11.CKR_GENERAL_ERROR), isRV(err, pkcs11.CKR_FUNCTION_FAILED):
		if _, perr := h.encryptZeroBlock(backup); perr != nil {
			return fmt.Errorf("%w; the Backup Key cannot be used either (%w)", translate("C_UnwrapKey", err), perr)
		}
		blob = true
	}
	if !blob {
		return translate("C_UnwrapKey under the Backup Key (CKM_AES_KEY_WRAP_PAD); nothing was created", err)
	}
	which := ""
	if label, kcv, lerr := h.backupKeyName(backup); lerr == nil {
		which = fmt.Sprintf(" (this token's Backup Key is %q, KCV %s)", label, kcv)
	}
	return fmt.Errorf("%w%s: load the Backup Key it was made under, or use an intact copy of the backup; nothing was created (%w)",
		ErrUnwrap, which, err)
}

// checkUnwrapped checks the new key is what k describes.
func (h *HSM) checkUnwrapped(obj pkcs11.ObjectHandle, k KeyInfo) error {
	damaged := func(what string) error {
		return fmt.Errorf("%w: the unwrapped key %s", ErrUnwrap, what)
	}
	switch k.KeyType {
	case KeyTypeAES, KeyTypeGenericSecret:
		a, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil)})
		if err != nil {
			return translate("read the restored key's length", err)
		}
		n, ok := ulongOf(a[0].Value)
		if ok && n != 0 && int(n) != k.ValueLen {
			return damaged(fmt.Sprintf("is %d bytes long, not %d", n, k.ValueLen))
		}
		// SoftHSM2 leaves CKA_VALUE_LEN 0 on unwrapped keys (issue #628).
		// The blob's length was checked already; an AES key of another
		// length than 16, 24 or 32 bytes does not compute.
		if k.KeyType == KeyTypeAES {
			if err := h.tryAES(obj); err != nil {
				return damaged(fmt.Sprintf("does not work as an AES key (%v)", err))
			}
		}
	case KeyTypeEC:
		a, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil)})
		if err != nil {
			return translate("read the restored key's curve", err)
		}
		if !bytes.Equal(a[0].Value, k.ECParams) {
			return damaged("is on another curve than the backup says")
		}
	case KeyTypeRSA:
		a, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return translate("read the restored key's modulus", err)
		}
		if !sameInteger(a[0].Value, k.Modulus) || !sameInteger(a[1].Value, k.PublicExponent) {
			return damaged("has another modulus or public exponent than the backup says")
		}
	}
	return nil
}

// tryAES encrypts a zero block with obj (CKM_AES_ECB) and discards it.
func (h *HSM) tryAES(obj pkcs11.ObjectHandle) error {
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_ECB, nil)}
	if err := h.mod.ctx.EncryptInit(h.session, mech, obj); err != nil {
		return fmt.Errorf("C_EncryptInit, CKM_AES_ECB: %w", err)
	}
	out, err := h.mod.ctx.Encrypt(h.session, make([]byte, 16))
	if err != nil {
		return fmt.Errorf("C_Encrypt, CKM_AES_ECB: %w", err)
	}
	if len(out) != 16 {
		return fmt.Errorf("C_Encrypt, CKM_AES_ECB: %d bytes for one block", len(out))
	}
	return nil
}

// undo destroys what a failed restore created and returns cause, or says
// what to remove by hand.
func (h *HSM) undo(cause error, k KeyInfo, objs ...pkcs11.ObjectHandle) error {
	var errs []error
	for _, obj := range objs {
		if err := h.mod.ctx.DestroyObject(h.session, obj); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; removing what was created failed too: remove the keys with CKA_ID %s by hand: %w",
			cause, formatID(k.ID), errors.Join(errs...))
	}
	return fmt.Errorf("%w; what was created was removed again", cause)
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

// theBackupKey returns the one Backup Key; the caller holds h.mu.
func (h *HSM) theBackupKey(what string) (pkcs11.ObjectHandle, error) {
	objs, err := h.findBackupKeys()
	if err != nil {
		return 0, err
	}
	switch len(objs) {
	case 1:
		return objs[0], nil
	case 0:
		return 0, fmt.Errorf("%w (an AES key with CKA_ID %q): load the Backup Key before you %s; nothing was done", ErrNoBackupKey, BackupKeyID, what)
	default:
		return 0, h.twoKeysError(objs)
	}
}

// backupKeyName is the Backup Key's label and KCV, for messages.
func (h *HSM) backupKeyName(obj pkcs11.ObjectHandle) (string, string, error) {
	label, err := h.labelOf(obj)
	if err != nil {
		return "", "", err
	}
	block, err := h.encryptZeroBlock(obj)
	if err != nil {
		return "", "", err
	}
	return label, kcvOf(block), nil
}

// find lists every object matching template; the caller holds h.mu.
func (h *HSM) find(what string, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := h.mod.ctx.FindObjectsInit(h.session, template); err != nil {
		return nil, translate(what+" (C_FindObjectsInit)", err)
	}
	var all []pkcs11.ObjectHandle
	var ferr error
	for {
		objs, _, err := h.mod.ctx.FindObjects(h.session, 64)
		if err != nil {
			ferr = translate(what+" (C_FindObjects)", err)
			break
		}
		all = append(all, objs...)
		if len(objs) == 0 {
			break
		}
	}
	if err := h.mod.ctx.FindObjectsFinal(h.session); err != nil && ferr == nil {
		ferr = translate(what+" (C_FindObjectsFinal)", err)
	}
	if ferr != nil {
		return nil, ferr
	}
	return all, nil
}

// boolAttr reads a boolean attribute; one the token does not know is false.
func (h *HSM) boolAttr(obj pkcs11.ObjectHandle, typ uint) (bool, error) {
	a, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	switch {
	case err == nil:
		return isTrue(a[0].Value), nil
	case isRV(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID):
		return false, nil
	default:
		return false, translate(fmt.Sprintf("read attribute %#x of a key", typ), err)
	}
}

func unwrapTemplate(k KeyInfo, class, keyType uint) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.Label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, k.ID),
	}
	// CKA_EC_PARAMS, CKA_MODULUS and CKA_VALUE_LEN come from the wrapped
	// key: PKCS#11 forbids them in an unwrap template (SoftHSM2 answers
	// CKR_ATTRIBUTE_READ_ONLY), so they are checked afterwards. Usages are
	// all given, since tokens default the others differently (SoftHSM2 to
	// true).
	return append(t, usages(class, restoredUsages[k.KeyType])...)
}

// restoredUsages are the usages a restored key gets, by type; every other
// usage attribute is set false.
var restoredUsages = map[string][]uint{
	KeyTypeEC:            {pkcs11.CKA_SIGN},
	KeyTypeRSA:           {pkcs11.CKA_SIGN, pkcs11.CKA_DECRYPT},
	KeyTypeAES:           {pkcs11.CKA_ENCRYPT, pkcs11.CKA_DECRYPT},
	KeyTypeGenericSecret: {pkcs11.CKA_SIGN, pkcs11.CKA_VERIFY},
}

// usages sets the usage attributes a key of class has: those in on true,
// the others false.
func usages(class uint, on []uint) []*pkcs11.Attribute {
	all := []uint{pkcs11.CKA_SIGN, pkcs11.CKA_DECRYPT, pkcs11.CKA_UNWRAP, pkcs11.CKA_DERIVE, pkcs11.CKA_SIGN_RECOVER}
	if class == pkcs11.CKO_SECRET_KEY {
		all = []uint{pkcs11.CKA_SIGN, pkcs11.CKA_VERIFY, pkcs11.CKA_ENCRYPT, pkcs11.CKA_DECRYPT,
			pkcs11.CKA_WRAP, pkcs11.CKA_UNWRAP, pkcs11.CKA_DERIVE}
	}
	var t []*pkcs11.Attribute
	for _, a := range all {
		t = append(t, pkcs11.NewAttribute(a, slices.Contains(on, a)))
	}
	return t
}

func publicTemplate(k KeyInfo) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY_RECOVER, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.Label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, k.ID),
	}
	switch k.KeyType {
	case KeyTypeEC:
		t = append(t,
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, k.ECParams),
			pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, k.ECPoint))
	case KeyTypeRSA:
		t = append(t,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.Modulus),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, k.PublicExponent))
	}
	return t
}

// checkKind maps k's class and type to PKCS#11 and refuses combinations
// this package does not back up.
func checkKind(k KeyInfo) (class, keyType uint, err error) {
	if !supported(k) {
		return 0, 0, fmt.Errorf("%w: class %q with type %q is not supported (EC and RSA private keys, AES and GENERIC_SECRET secret keys are)",
			ErrKeyInfo, k.Class, k.KeyType)
	}
	class = pkcs11.CKO_SECRET_KEY
	if k.Class == ClassPrivate {
		class = pkcs11.CKO_PRIVATE_KEY
	}
	switch k.KeyType {
	case KeyTypeEC:
		keyType = pkcs11.CKK_EC
	case KeyTypeRSA:
		keyType = pkcs11.CKK_RSA
	case KeyTypeAES:
		keyType = pkcs11.CKK_AES
	case KeyTypeGenericSecret:
		keyType = pkcs11.CKK_GENERIC_SECRET
	}
	return class, keyType, nil
}

// checkRestorable checks k carries what a restore needs.
func checkRestorable(k KeyInfo) error {
	if k.Class == ClassSecret && string(k.ID) == BackupKeyID {
		return fmt.Errorf("%w: CKA_ID %q is the Backup Key's; a restored key with it would be taken for a second Backup Key", ErrKeyInfo, BackupKeyID)
	}
	switch k.KeyType {
	case KeyTypeEC:
		if len(k.ECParams) == 0 || len(k.ECPoint) == 0 {
			return fmt.Errorf("%w: an EC private key needs ECParams and ECPoint to recreate its public key", ErrKeyInfo)
		}
	case KeyTypeRSA:
		if len(k.Modulus) == 0 || len(k.PublicExponent) == 0 {
			return fmt.Errorf("%w: an RSA private key needs Modulus and PublicExponent to recreate its public key", ErrKeyInfo)
		}
	case KeyTypeAES:
		if !validAESLen(k.ValueLen) {
			return fmt.Errorf("%w: ValueLen %d is not an AES key length (16, 24 or 32)", ErrKeyInfo, k.ValueLen)
		}
	case KeyTypeGenericSecret:
		if k.ValueLen <= 0 {
			return fmt.Errorf("%w: ValueLen %d: a generic secret key has a length", ErrKeyInfo, k.ValueLen)
		}
	}
	return nil
}

func supported(k KeyInfo) bool {
	switch k.Class {
	case ClassPrivate:
		return k.KeyType == KeyTypeEC || k.KeyType == KeyTypeRSA
	case ClassSecret:
		return k.KeyType == KeyTypeAES || k.KeyType == KeyTypeGenericSecret
	}
	return false
}

func validAESLen(n int) bool { return n == 16 || n == 24 || n == 32 }

func className(class uint) string {
	switch class {
	case pkcs11.CKO_PRIVATE_KEY:
		return ClassPrivate
	case pkcs11.CKO_SECRET_KEY:
		return ClassSecret
	case pkcs11.CKO_PUBLIC_KEY:
		return "public"
	}
	return fmt.Sprintf("class %#x", class)
}

var keyTypeNames = map[uint]string{
	pkcs11.CKK_EC:             KeyTypeEC,
	pkcs11.CKK_RSA:            KeyTypeRSA,
	pkcs11.CKK_AES:            KeyTypeAES,
	pkcs11.CKK_GENERIC_SECRET: KeyTypeGenericSecret,
	pkcs11.CKK_DSA:            "DSA",
	pkcs11.CKK_DH:             "DH",
	pkcs11.CKK_DES:            "DES",
	pkcs11.CKK_DES2:           "DES2",
	pkcs11.CKK_DES3:           "DES3",
	pkcs11.CKK_GOSTR3410:      "GOSTR3410",
	pkcs11.CKK_GOST28147:      "GOST28147",
	0x40:                      "EC_EDWARDS",
	0x41:                      "EC_MONTGOMERY",
}

func keyTypeName(t uint) string {
	if name, ok := keyTypeNames[t]; ok {
		return name
	}
	return fmt.Sprintf("%#x", t)
}

// ulongOf decodes a CK_ULONG attribute value (native byte order).
func ulongOf(v []byte) (uint, bool) {
	switch len(v) {
	case 8:
		return uint(binary.NativeEndian.Uint64(v)), true
	case 4:
		return uint(binary.NativeEndian.Uint32(v)), true
	}
	return 0, false
}

func isTrue(v []byte) bool { return len(v) == 1 && v[0] != 0 }

// sameInteger compares two big-endian unsigned integers, ignoring leading zeros.
func sameInteger(a, b []byte) bool {
	return bytes.Equal(bytes.TrimLeft(a, "\x00"), bytes.TrimLeft(b, "\x00"))
}

// formatID shows a CKA_ID quoted when it is printable text, else in hex.
func formatID(id []byte) string {
	if len(id) == 0 {
		return "(empty)"
	}
	if utf8.Valid(id) && !strings.ContainsFunc(string(id), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Sprintf("%q", id)
	}
	return "0x" + hex.EncodeToString(id)
}

func compareKeys(a, b KeyInfo) int {
	if c := strings.Compare(a.Class, b.Class); c != 0 {
		return c
	}
	if c := strings.Compare(a.Label, b.Label); c != 0 {
		return c
	}
	return bytes.Compare(a.ID, b.ID)
}

func sortKeys(keys []KeyInfo) { slices.SortFunc(keys, compareKeys) }
