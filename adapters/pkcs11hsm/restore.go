package pkcs11hsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

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
	class, keyType, err := pkcs11ClassAndType(k)
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
		return h.undoRestore(err, k, obj)
	}
	if class != pkcs11.CKO_PRIVATE_KEY {
		return nil
	}
	pub, err := h.mod.ctx.CreateObject(h.session, publicTemplate(k))
	if err != nil {
		return h.undoRestore(translate("create the public key object (C_CreateObject)", err), k, obj)
	}
	if k.KeyType == KeyTypeEC {
		match, err := h.pairMatches(obj, pub, k)
		if err == nil && !match {
			err = fmt.Errorf("%w: the public key in the backup does not verify the restored private key's signatures", ErrUnwrap)
		}
		if err != nil {
			return h.undoRestore(err, k, obj, pub)
		}
	}
	return nil
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

// wrappedLen is the length of a key of n bytes wrapped with
// CKM_AES_KEY_WRAP_PAD (RFC 5649).
func wrappedLen(n int) int { return 8*((n+7)/8) + 8 }

// refuseExisting refuses a restore over a key already on the token.
func (h *HSM) refuseExisting(k KeyInfo, class uint) error {
	classes := []uint{class}
	if class == pkcs11.CKO_PRIVATE_KEY {
		classes = append(classes, pkcs11.CKO_PUBLIC_KEY)
	}
	for _, c := range classes {
		objs, err := h.findObjects("look for a key already there", []*pkcs11.Attribute{
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

// undoRestore destroys what a failed restore created and returns cause,
// or says what to remove by hand.
func (h *HSM) undoRestore(cause error, k KeyInfo, objs ...pkcs11.ObjectHandle) error {
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
