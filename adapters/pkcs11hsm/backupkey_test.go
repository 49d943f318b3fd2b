package pkcs11hsm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
)

func TestKCVComputedInTheHSM(t *testing.T) {
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	sequential := make([]byte, 32)
	for i := range sequential {
		sequential[i] = byte(i)
	}
	tests := []struct {
		name string
		key  []byte
	}{
		{"zero key", make([]byte, 32)},
		{"0x42 repeated", keyA},
		{"0x00..0x1f", sequential},
		{"random", random},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := backupkey.KCV(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			h := open(t, softhsmtest.New(t, "kcv").Config())
			got, already, err := h.ImportBackupKey(context.Background(), "backup-key", tt.key)
			if err != nil || already {
				t.Fatalf("import: %q, %v, %v", got, already, err)
			}
			if got != want {
				t.Errorf("HSM KCV %s, backupkey.KCV %s", got, want)
			}
			if _, kcv, found, err := h.BackupKey(context.Background()); err != nil || !found || kcv != want {
				t.Errorf("BackupKey KCV %s, %v, %v; want %s", kcv, found, err, want)
			}
		})
	}
}

func TestImportedKeyAttributes(t *testing.T) {
	tk := softhsmtest.New(t, "attributes")
	h, err := pkcs11hsm.Open(context.Background(), tk.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.ImportBackupKey(context.Background(), "backup-key-attr", keyA); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	r := openRaw(t, tk)
	objs := r.backupKeys(t)
	if len(objs) != 1 {
		t.Fatalf("%d objects with CKA_ID %q, want 1", len(objs), pkcs11hsm.BackupKeyID)
	}
	key := objs[0]
	attrs, err := r.ctx.GetAttributeValue(r.session, key, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, nil),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, nil),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, nil),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, nil),
	})
	if err != nil {
		t.Fatalf("C_GetAttributeValue: %v", err)
	}
	ulong := func(v uint) []byte { return pkcs11.NewAttribute(0, v).Value }
	want := []struct {
		name  string
		value []byte
	}{
		{"CKA_CLASS", ulong(pkcs11.CKO_SECRET_KEY)},
		{"CKA_KEY_TYPE", ulong(pkcs11.CKK_AES)},
		{"CKA_VALUE_LEN", ulong(32)},
		{"CKA_LABEL", []byte("backup-key-attr")},
		{"CKA_TOKEN", []byte{1}},
		{"CKA_PRIVATE", []byte{1}},
		{"CKA_SENSITIVE", []byte{1}},
		{"CKA_EXTRACTABLE", []byte{0}},
		{"CKA_ENCRYPT", []byte{1}},
		{"CKA_DECRYPT", []byte{1}},
		{"CKA_WRAP", []byte{1}},
		{"CKA_UNWRAP", []byte{1}},
	}
	for i, w := range want {
		if !bytes.Equal(attrs[i].Value, w.value) {
			t.Errorf("%s = %x, want %x", w.name, attrs[i].Value, w.value)
		}
	}

	// The token sets these itself. An imported key was outside the token
	// once, so it is not "local", not "always sensitive" and not "never
	// extractable" (C_CreateObject refuses CKA_NEVER_EXTRACTABLE with
	// CKR_ATTRIBUTE_READ_ONLY); what keeps it in is CKA_EXTRACTABLE=false
	// and CKA_SENSITIVE=true, which cannot be undone.
	attrs, err = r.ctx.GetAttributeValue(r.session, key, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LOCAL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_SENSITIVE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil),
	})
	if err != nil {
		t.Fatalf("C_GetAttributeValue: %v", err)
	}
	for i, name := range []string{"CKA_LOCAL", "CKA_ALWAYS_SENSITIVE", "CKA_NEVER_EXTRACTABLE"} {
		if !bytes.Equal(attrs[i].Value, []byte{0}) {
			t.Errorf("%s = %x on an imported key, want false", name, attrs[i].Value)
		}
	}
	// Neither can be loosened again.
	for _, loosen := range []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
	} {
		if err := r.ctx.SetAttributeValue(r.session, key, []*pkcs11.Attribute{loosen}); err == nil {
			t.Errorf("attribute %#x of the Backup Key was loosened", loosen.Type)
		}
	}

	_, err = r.ctx.GetAttributeValue(r.session, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if !errors.Is(err, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
		t.Errorf("reading CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}

	wrapping := r.createAES(t, keyB,
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true))
	for _, mech := range []uint{pkcs11.CKM_AES_KEY_WRAP, pkcs11.CKM_AES_KEY_WRAP_PAD} {
		out, err := r.ctx.WrapKey(r.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, wrapping, key)
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_KEY_UNEXTRACTABLE)) {
			t.Errorf("wrapping the Backup Key (mechanism %#x): %d bytes, %v; want CKR_KEY_UNEXTRACTABLE", mech, len(out), err)
		}
	}
}

// TestPkcs11ToolSeesTheKey checks the stored key with OpenSC's
// pkcs11-tool, independently of this package and of miekg/pkcs11. On
// SoftHSM2 2.6.1 and OpenSC 0.23.0 it prints, for the imported key:
//
//	warning: PKCS11 function C_GetAttributeValue(VALUE) failed: rv = CKR_ATTRIBUTE_SENSITIVE (0x11)
//
//	Secret Key Object; AES length 32
//	  label:      backup-key-test
//	  ID:         636572656d6f6e792d6261636b75702d6b6579
//	  Usage:      encrypt, decrypt, verify, wrap, unwrap
//	  Access:     sensitive
//
// "Access" lists "extractable" when CKA_EXTRACTABLE is true and
// "never extractable" when CKA_NEVER_EXTRACTABLE is true; an imported key
// is neither (PKCS#11 sets CKA_NEVER_EXTRACTABLE only for keys generated
// on the token), so its Access is "sensitive" alone.
func TestPkcs11ToolSeesTheKey(t *testing.T) {
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Fatalf("pkcs11-tool is not on PATH: install opensc (Debian: apt-get install opensc): %v", err)
	}
	tk := softhsmtest.New(t, "opensc")
	h, err := pkcs11hsm.Open(context.Background(), tk.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.ImportBackupKey(context.Background(), "backup-key-test", keyA); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	// The PIN on the command line is a throwaway token's.
	cmd := exec.Command(tool, "--module", tk.Module, "--token-label", tk.Label,
		"--login", "--pin", tk.PIN, "--list-objects", "--type", "secrkey")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool --list-objects: %v\n%s", err, out)
	}
	t.Logf("pkcs11-tool --list-objects --type secrkey:\n%s", out)

	// pkcs11-tool tries to read every key's value and is refused.
	if !strings.Contains(string(out), "C_GetAttributeValue(VALUE) failed: rv = CKR_ATTRIBUTE_SENSITIVE") {
		t.Errorf("pkcs11-tool was not refused the key's value:\n%s", out)
	}
	blocks := strings.Split(string(out), "Secret Key Object;")
	if len(blocks) != 2 {
		t.Fatalf("pkcs11-tool lists %d secret keys, want 1:\n%s", len(blocks)-1, out)
	}
	block := blocks[1]
	for _, re := range []string{
		`^ AES length 32\n`,
		`\n\s+label:\s+backup-key-test\n`,
		`\n\s+ID:\s+` + hex.EncodeToString([]byte(pkcs11hsm.BackupKeyID)) + `\n`,
		`\n\s+Usage:\s+.*\bwrap\b.*\bunwrap\b`,
	} {
		if !regexp.MustCompile(re).MatchString(block) {
			t.Errorf("pkcs11-tool output does not match %q:\n%s", re, block)
		}
	}
	if strings.Contains(block, "VALUE:") {
		t.Errorf("pkcs11-tool read the key's value:\n%s", block)
	}
	access := regexp.MustCompile(`\n\s+Access:\s+(.*)\n`).FindStringSubmatch(block)
	if access == nil {
		t.Fatalf("no Access line in pkcs11-tool output:\n%s", block)
	}
	flags := map[string]bool{}
	for _, f := range strings.Split(access[1], ",") {
		flags[strings.TrimSpace(f)] = true
	}
	if !flags["sensitive"] {
		t.Errorf("pkcs11-tool does not show the key as sensitive: Access: %s", access[1])
	}
	if flags["extractable"] {
		t.Errorf("pkcs11-tool shows the key as extractable: Access: %s", access[1])
	}
}

func TestBackupKeyPersists(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.New(t, "persist")
	h, err := pkcs11hsm.Open(ctx, tk.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := h.BackupKey(ctx); err != nil || found {
		t.Fatalf("fresh token: found %v, err %v", found, err)
	}
	kcv, _, err := h.ImportBackupKey(ctx, "backup-key-2025", keyA)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	h = open(t, tk.Config())
	label, got, found, err := h.BackupKey(ctx)
	if err != nil || !found || label != "backup-key-2025" || got != kcv {
		t.Fatalf("after reopening: BackupKey = %q, %q, %v, %v; want %q, %q", label, got, found, err, "backup-key-2025", kcv)
	}
	again, already, err := h.ImportBackupKey(ctx, "backup-key-2025", keyA)
	if err != nil || !already || again != kcv {
		t.Fatalf("same key again: %q, %v, %v; want %q, already", again, already, err, kcv)
	}

	_, _, err = h.ImportBackupKey(ctx, "backup-key-other", keyB)
	if !errors.Is(err, pkcs11hsm.ErrDifferentKey) {
		t.Fatalf("different key: %v, want ErrDifferentKey", err)
	}
	for _, s := range []string{"backup-key-2025", kcv, "unreadable", "nothing was changed"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	for _, secret := range [][]byte{keyA, keyB} {
		if strings.Contains(strings.ToLower(err.Error()), hex.EncodeToString(secret)) {
			t.Errorf("error shows key bytes: %v", err)
		}
	}
	if label, got, _, err := h.BackupKey(ctx); err != nil || label != "backup-key-2025" || got != kcv {
		t.Errorf("after the refusal: %q, %q, %v; want the stored key unchanged (%q)", label, got, err, kcv)
	}
}

func TestTwoBackupKeysAreRefused(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.New(t, "two-keys")
	h, err := pkcs11hsm.Open(ctx, tk.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.ImportBackupKey(ctx, "first-key", keyA); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	r := openRaw(t, tk)
	r.createAES(t, keyB,
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "second-key"),
		pkcs11.NewAttribute(pkcs11.CKA_ID, pkcs11hsm.BackupKeyID))
	if err := r.ctx.CloseSession(r.session); err != nil {
		t.Fatal(err)
	}
	if err := r.ctx.Finalize(); err != nil {
		t.Fatal(err)
	}

	h = open(t, tk.Config())
	_, _, _, err = h.BackupKey(ctx)
	if !errors.Is(err, pkcs11hsm.ErrTwoKeys) {
		t.Fatalf("BackupKey: %v, want ErrTwoKeys", err)
	}
	_, _, err2 := h.ImportBackupKey(ctx, "first-key", keyA)
	if !errors.Is(err2, pkcs11hsm.ErrTwoKeys) {
		t.Fatalf("ImportBackupKey: %v, want ErrTwoKeys", err2)
	}
	for _, e := range []error{err, err2} {
		if !strings.Contains(e.Error(), `"first-key"`) || !strings.Contains(e.Error(), `"second-key"`) {
			t.Errorf("error %q does not name both keys", e)
		}
	}
}

func TestConcurrentImports(t *testing.T) {
	ctx := context.Background()
	h := open(t, softhsmtest.New(t, "concurrent").Config())
	want, err := backupkey.KCV(keyA)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kcv, already, err := h.ImportBackupKey(ctx, "backup-key", keyA)
			if err != nil || kcv != want {
				t.Errorf("import: %q, %v; want %q", kcv, err, want)
			}
			if _, _, _, err := h.BackupKey(ctx); err != nil {
				t.Errorf("BackupKey: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !already {
				created++
			}
		}()
	}
	wg.Wait()
	if created != 1 {
		t.Errorf("%d imports created the key, want exactly 1", created)
	}
}
