package pkcs11hsm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
)

var (
	keyA = bytes.Repeat([]byte{0x42}, 32)
	keyB = bytes.Repeat([]byte{0x24}, 32)
)

// Key IDs, a known key value and messages the backup and restore tests share.
var (
	ecID       = []byte("node-signing-1")
	aesID      = []byte("node-data-1")
	stuckID    = []byte("node-stays-1")
	aesValue   = bytes.Repeat([]byte{0x5a, 0xc3}, 16) // a known AES-256 key
	testBlock  = []byte("sixteen byte blk")
	signedText = []byte("ceremony: a message signed on one node, verified on another")
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
