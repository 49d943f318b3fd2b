package pkcs11hsm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmtest"
)

func TestContract(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T) ceremonies.HSM {
		tk := softhsmtest.New(t, "contract")
		return open(t, tk.Config())
	})
}

func TestOpenFindsTheToken(t *testing.T) {
	tk := softhsmtest.New(t, "ceremony one")
	tests := []struct {
		name string
		cfg  func() pkcs11hsm.Config
	}{
		{"by label", tk.Config},
		{"by serial", func() pkcs11hsm.Config {
			c := tk.Config()
			c.Token = tk.Serial
			return c
		}},
		{"by URI with module-path", func() pkcs11hsm.Config {
			return pkcs11hsm.Config{
				Token: "pkcs11:token=ceremony%20one;serial=" + tk.Serial + ";manufacturer=SoftHSM%20project?module-path=" + tk.Module,
				PIN:   pkcs11hsm.PINSource{File: tk.PINFile},
			}
		}},
		{"by URI with pin-source", func() pkcs11hsm.Config {
			return pkcs11hsm.Config{Module: tk.Module, Token: "pkcs11:token=ceremony%20one?pin-source=file:" + tk.PINFile}
		}},
		{"PIN from the environment", func() pkcs11hsm.Config {
			t.Setenv("CEREMONY_TEST_TOKEN_PIN", tk.PIN)
			return pkcs11hsm.Config{Module: tk.Module, Token: tk.Label, PIN: pkcs11hsm.PINSource{Env: "CEREMONY_TEST_TOKEN_PIN"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := pkcs11hsm.Open(context.Background(), tt.cfg())
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if got := h.Name(); got != "pkcs11:token=ceremony%20one" {
				t.Errorf("Name = %q", got)
			}
			if label, serial := h.Token(); label != tk.Label || serial != tk.Serial {
				t.Errorf("Token = %q, %q; want %q, %q", label, serial, tk.Label, tk.Serial)
			}
		})
	}
}

func TestOpenWipesThePromptedPIN(t *testing.T) {
	tk := softhsmtest.New(t, "prompt")
	var given []byte
	cfg := tk.Config()
	cfg.PIN = pkcs11hsm.PINSource{Prompt: func() ([]byte, error) {
		given = []byte(tk.PIN)
		return given, nil
	}}
	cfg.Name = "hsm-in-events"
	h := open(t, cfg)
	if h.Name() != "hsm-in-events" {
		t.Errorf("Name = %q, want the configured one", h.Name())
	}
	for _, b := range given {
		if b != 0 {
			t.Fatalf("the prompted PIN was not wiped after login")
		}
	}
}

func TestTwoTokensOpenAtOnce(t *testing.T) {
	alpha := softhsmtest.New(t, "alpha")
	beta := alpha.Add(t, "beta")
	ha, hb := open(t, alpha.Config()), open(t, beta.Config())
	ctx := context.Background()
	if _, _, err := ha.ImportBackupKey(ctx, "key-a", keyA); err != nil {
		t.Fatal(err)
	}
	if _, _, err := hb.ImportBackupKey(ctx, "key-b", keyB); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[*pkcs11hsm.HSM]string{ha: "key-a", hb: "key-b"} {
		if label, _, found, err := h.BackupKey(ctx); err != nil || !found || label != want {
			t.Errorf("%s: BackupKey = %q, %v, %v; want %q", h.Name(), label, found, err, want)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	tk := softhsmtest.New(t, "present")
	twin := tk.Add(t, "twin")
	twin2 := tk.Add(t, "twin")
	wrongPIN := filepath.Join(tk.Dir, "wrong-pin")
	if err := os.WriteFile(wrongPIN, []byte("70315926\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyPIN := filepath.Join(tk.Dir, "empty-pin")
	if err := os.WriteFile(emptyPIN, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notALibrary := filepath.Join(tk.Dir, "not-a-library.so")
	if err := os.WriteFile(notALibrary, []byte("not an ELF file"), 0o600); err != nil {
		t.Fatal(err)
	}
	with := func(change func(*pkcs11hsm.Config)) pkcs11hsm.Config {
		c := tk.Config()
		change(&c)
		return c
	}
	tests := []struct {
		name     string
		cfg      pkcs11hsm.Config
		is       []error
		contains []string
		absent   []string
	}{
		{"wrong PIN", with(func(c *pkcs11hsm.Config) { c.PIN.File = wrongPIN }),
			[]error{pkcs11hsm.ErrWrongPIN, ceremonies.ErrWrongPIN, pkcs11.Error(pkcs11.CKR_PIN_INCORRECT)},
			[]string{"wrong token PIN", "counts failed logins", "check the PIN source", wrongPIN},
			[]string{"70315926", tk.PIN}},
		{"empty PIN file", with(func(c *pkcs11hsm.Config) { c.PIN.File = emptyPIN }),
			[]error{pkcs11hsm.ErrPINSource}, []string{"empty"}, nil},
		{"missing PIN file", with(func(c *pkcs11hsm.Config) { c.PIN.File = filepath.Join(tk.Dir, "no-such-pin") }),
			[]error{pkcs11hsm.ErrPINSource, os.ErrNotExist}, nil, nil},
		{"unset PIN variable", with(func(c *pkcs11hsm.Config) { c.PIN = pkcs11hsm.PINSource{Env: "CEREMONY_TEST_UNSET_PIN_VARIABLE"} }),
			[]error{pkcs11hsm.ErrPINSource}, []string{"CEREMONY_TEST_UNSET_PIN_VARIABLE", "not set"}, nil},
		{"unknown token", with(func(c *pkcs11hsm.Config) { c.Token = "no-such-token" }),
			[]error{pkcs11hsm.ErrTokenNotFound},
			[]string{"no-such-token", "tokens present", `"present" (serial ` + tk.Serial + ")", `"twin"`}, nil},
		{"unknown serial in a URI", with(func(c *pkcs11hsm.Config) { c.Token = "pkcs11:token=present;serial=0000" }),
			[]error{pkcs11hsm.ErrTokenNotFound}, []string{"serial=0000", tk.Serial}, nil},
		{"two tokens match", with(func(c *pkcs11hsm.Config) { c.Token = "twin" }),
			[]error{pkcs11hsm.ErrAmbiguousToken}, []string{twin.Serial, twin2.Serial, "by serial"}, nil},
		{"module missing", with(func(c *pkcs11hsm.Config) { c.Module = "/nonexistent/libnope.so" }),
			[]error{pkcs11hsm.ErrModule}, []string{"cannot load the PKCS#11 module at /nonexistent/libnope.so", "installed", "softhsm2"}, nil},
		{"module not a library", with(func(c *pkcs11hsm.Config) { c.Module = notALibrary }),
			[]error{pkcs11hsm.ErrModule}, []string{notALibrary, "not a PKCS#11 library"}, nil},
		{"URI with pin-value", pkcs11hsm.Config{Module: tk.Module, Token: "pkcs11:token=present?pin-value=70315926"},
			[]error{pkcs11hsm.ErrURI}, []string{"pin-source", "--pin-file", "--pin-env"}, []string{"70315926"}},
		{"no token", with(func(c *pkcs11hsm.Config) { c.Token = "" }), []error{pkcs11hsm.ErrConfig}, nil, nil},
		{"no module", with(func(c *pkcs11hsm.Config) { c.Module = "" }), []error{pkcs11hsm.ErrConfig}, []string{"module"}, nil},
		{"no PIN source", with(func(c *pkcs11hsm.Config) { c.PIN = pkcs11hsm.PINSource{} }),
			[]error{pkcs11hsm.ErrConfig}, []string{"exactly one"}, nil},
		{"two PIN sources", with(func(c *pkcs11hsm.Config) { c.PIN.Env = "X" }), []error{pkcs11hsm.ErrConfig}, []string{"exactly one"}, nil},
		{"URI pin-source and a PIN file", with(func(c *pkcs11hsm.Config) { c.Token = "pkcs11:token=present?pin-source=file:/x" }),
			[]error{pkcs11hsm.ErrConfig}, []string{"two PIN sources"}, nil},
		{"two different modules", with(func(c *pkcs11hsm.Config) { c.Token = "pkcs11:token=present?module-path=/other.so" }),
			[]error{pkcs11hsm.ErrConfig}, []string{"/other.so"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := pkcs11hsm.Open(context.Background(), tt.cfg)
			if err == nil {
				h.Close()
				t.Fatal("Open succeeded")
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("error %q is not %v", err, target)
				}
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains %q", err, s)
				}
			}
		})
	}
	// A failed Open leaves nothing behind: the right configuration opens.
	open(t, tk.Config())
}

func TestOneOpenPerToken(t *testing.T) {
	tk := softhsmtest.New(t, "once")
	first, err := pkcs11hsm.Open(context.Background(), tk.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pkcs11hsm.Open(context.Background(), tk.Config()); !errors.Is(err, pkcs11hsm.ErrTokenInUse) {
		t.Fatalf("second Open = %v, want ErrTokenInUse", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, tk.Config())
}

func TestCloseIsIdempotent(t *testing.T) {
	tk := softhsmtest.New(t, "closing")
	h, err := pkcs11hsm.Open(context.Background(), tk.Config())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := h.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if _, _, err := h.ImportBackupKey(context.Background(), "late", keyA); !errors.Is(err, pkcs11hsm.ErrClosed) {
		t.Errorf("ImportBackupKey after Close = %v, want ErrClosed", err)
	}
	if _, _, _, err := h.BackupKey(context.Background()); !errors.Is(err, pkcs11hsm.ErrClosed) {
		t.Errorf("BackupKey after Close = %v, want ErrClosed", err)
	}
}

func TestCancelledContext(t *testing.T) {
	tk := softhsmtest.New(t, "cancel")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pkcs11hsm.Open(ctx, tk.Config()); !errors.Is(err, context.Canceled) {
		t.Errorf("Open = %v, want context.Canceled", err)
	}
	h := open(t, tk.Config())
	if _, _, err := h.ImportBackupKey(ctx, "cancelled", keyA); !errors.Is(err, context.Canceled) {
		t.Errorf("ImportBackupKey = %v, want context.Canceled", err)
	}
	if _, _, found, err := h.BackupKey(context.Background()); err != nil || found {
		t.Errorf("after a cancelled import: found %v, err %v; want no key", found, err)
	}
}
