package pkcs11hsm_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
)

func TestAuditSignerInTheToken(t *testing.T) {
	tk := softhsmtest.New(t, "audit")
	h, err := pkcs11hsm.Open(context.Background(), tk.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	s, created, err := h.AuditSigner(context.Background())
	if err != nil || !created {
		t.Fatalf("first use: created %v, %v", created, err)
	}
	msg := []byte("manifest")
	sig, err := s.Sign(msg)
	if err != nil || !ed25519.Verify(s.Public(), msg, sig) {
		t.Fatalf("an EdDSA signature made in the token does not verify with crypto/ed25519: %v", err)
	}
	again, created, err := h.AuditSigner(context.Background())
	if err != nil || created || !again.Public().Equal(s.Public()) {
		t.Fatalf("second use: created %v, same key %v, %v", created, again.Public().Equal(s.Public()), err)
	}
	// The private key never leaves the token.
	err = h.WithSession(func(ctx *pkcs11.Ctx, sess pkcs11.SessionHandle) error {
		ctx.FindObjectsInit(sess, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(pkcs11hsm.AuditKeyID))})
		objs, _, _ := ctx.FindObjects(sess, 2)
		ctx.FindObjectsFinal(sess)
		if len(objs) != 1 {
			t.Fatalf("%d private audit keys", len(objs))
		}
		attrs, err := ctx.GetAttributeValue(sess, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil)})
		if err != nil {
			return err
		}
		if attrs[0].Value[0] != 1 || attrs[1].Value[0] != 0 {
			t.Fatalf("sensitive %v extractable %v", attrs[0].Value, attrs[1].Value)
		}
		if _, err := ctx.GetAttributeValue(sess, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); err == nil {
			t.Fatal("the private audit key's value could be read")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
