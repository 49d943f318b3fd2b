package pkcs11hsm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// The audit signing key: an Ed25519 key pair made in the token (never
// extractable), found by CKA_ID. PKCS#11 3.0 mechanisms, not named by
// miekg/pkcs11 v1.1.2; SoftHSM2 2.6 implements them.
const (
	AuditKeyID          = "ceremony-audit-signing"
	ckmECEdwardsKeyGen  = 0x1055
	ckmEdDSA            = 0x1057
	ckkECEdwards        = 0x40
	ed25519OIDDER       = "\x06\x03\x2b\x65\x70" // 1.3.101.112
	ed25519PointDERHead = "\x04\x20"             // OCTET STRING of 32 bytes
)

// EdSigner signs with the token's audit key (implements the export
// package's Signer).
type EdSigner struct {
	h    *HSM
	priv pkcs11.ObjectHandle
	pub  ed25519.PublicKey
}

// Public returns the public key.
func (s *EdSigner) Public() ed25519.PublicKey { return s.pub }

// Sign signs msg inside the token with CKM_EDDSA.
func (s *EdSigner) Sign(msg []byte) ([]byte, error) {
	var sig []byte
	err := s.h.WithSession(func(ctx *pkcs11.Ctx, sess pkcs11.SessionHandle) error {
		if err := ctx.SignInit(sess, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, s.priv); err != nil {
			return translate("start an EdDSA signature", err)
		}
		out, err := ctx.Sign(sess, msg)
		if err != nil {
			return translate("sign with EdDSA", err)
		}
		sig = out
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11hsm %s: %w", s.h.name, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("pkcs11hsm %s: the EdDSA signature has %d bytes, want %d", s.h.name, len(sig), ed25519.SignatureSize)
	}
	return sig, nil
}

// AuditSigner returns the token's audit signing key, generating it in the
// token on first use (created=true). The private key is sensitive and
// never extractable.
func (h *HSM) AuditSigner(c context.Context) (*EdSigner, bool, error) {
	s := &EdSigner{h: h}
	created := false
	err := h.WithSession(func(ctx *pkcs11.Ctx, sess pkcs11.SessionHandle) error {
		find := func(class uint) ([]pkcs11.ObjectHandle, error) {
			tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(AuditKeyID))}
			if err := ctx.FindObjectsInit(sess, tmpl); err != nil {
				return nil, translate("look for the audit key", err)
			}
			objs, _, err := ctx.FindObjects(sess, 4)
			if ferr := ctx.FindObjectsFinal(sess); err == nil {
				err = ferr
			}
			if err != nil {
				return nil, translate("look for the audit key", err)
			}
			return objs, nil
		}
		privs, err := find(pkcs11.CKO_PRIVATE_KEY)
		if err != nil {
			return err
		}
		pubs, err := find(pkcs11.CKO_PUBLIC_KEY)
		if err != nil {
			return err
		}
		switch {
		case len(privs) > 1 || len(pubs) > 1:
			return fmt.Errorf("two audit signing keys (CKA_ID %q) on the token: remove one", AuditKeyID)
		case len(privs) == 0 && len(pubs) == 0:
			pub, priv, err := ctx.GenerateKeyPair(sess, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyGen, nil)},
				[]*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
					pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
					pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, []byte(ed25519OIDDER)),
					pkcs11.NewAttribute(pkcs11.CKA_LABEL, "ceremony audit signing key"),
					pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(AuditKeyID)),
				},
				[]*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
					pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
					pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
					pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
					pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
					pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
					pkcs11.NewAttribute(pkcs11.CKA_LABEL, "ceremony audit signing key"),
					pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(AuditKeyID)),
				})
			if err != nil {
				return translate("generate the Ed25519 audit key", err)
			}
			privs, pubs, created = []pkcs11.ObjectHandle{priv}, []pkcs11.ObjectHandle{pub}, true
		case len(privs) != 1 || len(pubs) != 1:
			return fmt.Errorf("the audit signing key (CKA_ID %q) lacks its private or public half", AuditKeyID)
		}
		attrs, err := ctx.GetAttributeValue(sess, pubs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
		if err != nil {
			return translate("read the audit public key", err)
		}
		point := attrs[0].Value
		if bytes.HasPrefix(point, []byte(ed25519PointDERHead)) {
			point = point[2:]
		}
		if len(point) != ed25519.PublicKeySize {
			return errors.New("the audit public key is not an Ed25519 point")
		}
		s.priv, s.pub = privs[0], ed25519.PublicKey(point)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("pkcs11hsm %s: audit key: %w", h.name, err)
	}
	return s, created, nil
}
