package pkcs11hsm

import (
	"context"
	"crypto/aes"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// BackupKeyID is the CKA_ID of the Backup Key on the token: the one
// CKO_SECRET_KEY of type CKK_AES with this id is the Backup Key.
const BackupKeyID = "ceremony-backup-key"

// BackupKeyLen is the length of a Backup Key: AES-256.
const BackupKeyLen = 32

// ImportBackupKey implements ceremonies.HSM. It stores key as a token AES
// key (private, sensitive, not extractable) labelled label and returns its
// KCV computed inside the HSM. If the token already holds the same key it
// returns already=true and changes nothing; a different key is refused.
func (h *HSM) ImportBackupKey(ctx context.Context, label string, key []byte) (kcv string, already bool, err error) {
	kcv, already, err = h.importBackupKey(ctx, label, key)
	if err != nil {
		return "", false, fmt.Errorf("pkcs11hsm %s: import Backup Key %q: %w", h.name, label, err)
	}
	return kcv, already, nil
}

func (h *HSM) importBackupKey(ctx context.Context, label string, key []byte) (string, bool, error) {
	if len(key) != BackupKeyLen {
		return "", false, fmt.Errorf("%w, got %d bytes", ErrKeyLength, len(key))
	}
	if label == "" {
		return "", false, errors.New("the key needs a label: give the label the operator will see on the token")
	}
	want, err := zeroBlock(key)
	if err != nil {
		return "", false, err
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.begin(ctx); err != nil {
		return "", false, err
	}
	existing, err := h.findBackupKeys()
	if err != nil {
		return "", false, err
	}
	switch len(existing) {
	case 0:
		return h.createBackupKey(label, key, want)
	case 1:
		return h.compareBackupKey(existing[0], want)
	default:
		return "", false, h.twoKeysError(existing)
	}
}

// BackupKey returns the label and KCV of the Backup Key on the token, the
// KCV computed inside the HSM; found is false when there is none.
func (h *HSM) BackupKey(ctx context.Context) (label, kcv string, found bool, err error) {
	label, kcv, found, err = h.backupKey(ctx)
	if err != nil {
		return "", "", false, fmt.Errorf("pkcs11hsm %s: read the Backup Key: %w", h.name, err)
	}
	return label, kcv, found, nil
}

func (h *HSM) backupKey(ctx context.Context) (string, string, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.begin(ctx); err != nil {
		return "", "", false, err
	}
	existing, err := h.findBackupKeys()
	if err != nil {
		return "", "", false, err
	}
	switch len(existing) {
	case 0:
		return "", "", false, nil
	case 1:
	default:
		return "", "", false, h.twoKeysError(existing)
	}
	label, err := h.labelOf(existing[0])
	if err != nil {
		return "", "", false, err
	}
	block, err := h.encryptZeroBlock(existing[0])
	if err != nil {
		return "", "", false, err
	}
	return label, kcvOf(block), true, nil
}

// createBackupKey imports key; the caller holds h.mu and found no Backup Key.
func (h *HSM) createBackupKey(label string, key, want []byte) (string, bool, error) {
	value := append([]byte(nil), key...) // the template's copy, wiped below
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, BackupKeyID),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
	}
	obj, err := h.mod.ctx.CreateObject(h.session, template)
	ceremonies.Wipe(value)
	if err != nil {
		return "", false, translate("C_CreateObject (nothing was stored)", err)
	}
	got, err := h.encryptZeroBlock(obj)
	if err != nil {
		return "", false, fmt.Errorf("%w; the key was stored: run the import again to check it", err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		// The token does not compute with the key we gave: take it away again.
		if derr := h.mod.ctx.DestroyObject(h.session, obj); derr != nil {
			return "", false, fmt.Errorf("%w (token KCV %s); removing it failed too, remove the object with CKA_ID %q by hand: %w",
				ErrKeyMismatch, kcvOf(got), BackupKeyID, derr)
		}
		return "", false, fmt.Errorf("%w (token KCV %s): the stored object was removed; check the HSM",
			ErrKeyMismatch, kcvOf(got))
	}
	return kcvOf(got), false, nil
}

// compareBackupKey checks the token's Backup Key against want, the
// candidate's encryption of a zero block, without extracting anything.
func (h *HSM) compareBackupKey(obj pkcs11.ObjectHandle, want []byte) (string, bool, error) {
	got, err := h.encryptZeroBlock(obj)
	if err != nil {
		return "", false, err
	}
	kcv := kcvOf(got)
	if subtle.ConstantTimeCompare(got, want) == 1 {
		return kcv, true, nil
	}
	label, err := h.labelOf(obj)
	if err != nil {
		label = "(label unreadable)"
	}
	return "", false, fmt.Errorf("%w %q (KCV %s); replacing it would make every backup made under it unreadable, so it is refused: nothing was changed",
		ErrDifferentKey, label, kcv)
}

func (h *HSM) twoKeysError(objs []pkcs11.ObjectHandle) error {
	var labels []string
	for _, obj := range objs {
		label, err := h.labelOf(obj)
		if err != nil {
			label = "(label unreadable)"
		}
		labels = append(labels, fmt.Sprintf("%q", label))
	}
	return fmt.Errorf("%w: %s (CKA_ID %q); find out which one the backups were made under before removing the other; nothing was changed",
		ErrTwoKeys, strings.Join(labels, " and "), BackupKeyID)
}

// findBackupKeys lists the AES secret keys with the Backup Key's CKA_ID.
func (h *HSM) findBackupKeys() ([]pkcs11.ObjectHandle, error) {
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_ID, BackupKeyID),
	}
	if err := h.mod.ctx.FindObjectsInit(h.session, template); err != nil {
		return nil, translate("look for the Backup Key", err)
	}
	objs, _, err := h.mod.ctx.FindObjects(h.session, 16)
	ferr := h.mod.ctx.FindObjectsFinal(h.session)
	if err != nil {
		return nil, translate("look for the Backup Key", err)
	}
	if ferr != nil {
		return nil, translate("look for the Backup Key (C_FindObjectsFinal)", ferr)
	}
	return objs, nil
}

func (h *HSM) labelOf(obj pkcs11.ObjectHandle) (string, error) {
	attrs, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
	})
	if err != nil {
		return "", translate("read the Backup Key's label", err)
	}
	return string(attrs[0].Value), nil
}

// encryptZeroBlock encrypts one zero block with obj inside the HSM
// (CKM_AES_ECB).
func (h *HSM) encryptZeroBlock(obj pkcs11.ObjectHandle) ([]byte, error) {
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_ECB, nil)}
	if err := h.mod.ctx.EncryptInit(h.session, mech, obj); err != nil {
		return nil, translate("compute the Backup Key's check value (C_EncryptInit, CKM_AES_ECB)", err)
	}
	out, err := h.mod.ctx.Encrypt(h.session, make([]byte, aes.BlockSize))
	if err != nil {
		return nil, translate("compute the Backup Key's check value (C_Encrypt, CKM_AES_ECB)", err)
	}
	if len(out) != aes.BlockSize {
		return nil, fmt.Errorf("compute the Backup Key's check value: the token returned %d bytes for one AES block: %w", len(out), ErrDevice)
	}
	return out, nil
}

// zeroBlock encrypts one zero block with key in software.
func zeroBlock(key []byte) ([]byte, error) {
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("the key is not an AES key: %w", err)
	}
	out := make([]byte, aes.BlockSize)
	c.Encrypt(out, make([]byte, aes.BlockSize))
	return out, nil
}

// kcvOf is the KCV of an encrypted zero block: its first 3 bytes in
// upper-case hex, as ceremonies/backupkey.KCV writes it.
func kcvOf(block []byte) string {
	return strings.ToUpper(hex.EncodeToString(block[:3]))
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
