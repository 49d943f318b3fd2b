package pkcs11hsm_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
)

var (
	keyA = bytes.Repeat([]byte{0x42}, 32)
	keyB = bytes.Repeat([]byte{0x24}, 32)
)

// open opens cfg and closes it when the test ends.
func open(t *testing.T, cfg pkcs11hsm.Config) *pkcs11hsm.HSM {
	t.Helper()
	h, err := pkcs11hsm.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// raw is a logged-in session on tk through miekg/pkcs11 directly, for
// checking what the adapter stored. Close every HSM on the module first.
type raw struct {
	ctx     *pkcs11.Ctx
	session pkcs11.SessionHandle
}

func openRaw(t *testing.T, tk *softhsmtest.Token) *raw {
	t.Helper()
	ctx := pkcs11.New(tk.Module)
	if ctx == nil {
		t.Fatalf("load %s", tk.Module)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		t.Fatalf("C_Initialize (is an HSM still open?): %v", err)
	}
	r := &raw{ctx: ctx}
	t.Cleanup(func() {
		_ = ctx.Logout(r.session)
		_ = ctx.CloseSession(r.session)
		_ = ctx.Finalize()
		ctx.Destroy()
	})
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		info, err := ctx.GetTokenInfo(slot)
		if err != nil || info.Label != tk.Label {
			continue
		}
		if r.session, err = ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
			t.Fatal(err)
		}
		if err := ctx.Login(r.session, pkcs11.CKU_USER, tk.PIN); err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Fatalf("token %q not found", tk.Label)
	return nil
}

// backupKeys finds the objects carrying the Backup Key's CKA_ID.
func (r *raw) backupKeys(t *testing.T) []pkcs11.ObjectHandle {
	t.Helper()
	if err := r.ctx.FindObjectsInit(r.session, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_ID, pkcs11hsm.BackupKeyID),
	}); err != nil {
		t.Fatal(err)
	}
	objs, _, err := r.ctx.FindObjects(r.session, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ctx.FindObjectsFinal(r.session); err != nil {
		t.Fatal(err)
	}
	return objs
}

// createAES puts an AES key on the token with the given template extras.
func (r *raw) createAES(t *testing.T, value []byte, extra ...*pkcs11.Attribute) pkcs11.ObjectHandle {
	t.Helper()
	template := append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
	}, extra...)
	obj, err := r.ctx.CreateObject(r.session, template)
	if err != nil {
		t.Fatalf("C_CreateObject: %v", err)
	}
	return obj
}
