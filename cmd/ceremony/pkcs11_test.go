package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
)

// TestDemoIntoSoftHSM runs the demo into a real SoftHSM2 token, then a
// second demo (another key) into the same token, which must be refused
// without touching the first key.
func TestDemoIntoSoftHSM(t *testing.T) {
	tk := softhsmtest.New(t, "ceremony-demo")
	hsmArgs := []string{"--hsm", "pkcs11", "--pkcs11-module", tk.Module, "--pkcs11-token", "pkcs11:token=" + tk.Label, "--pkcs11-pin-file", tk.PINFile}
	dir1, dir2 := t.TempDir(), t.TempDir()
	var out1, out2 bytes.Buffer
	if code := run(context.Background(), append([]string{"demo", "--dir", dir1}, hsmArgs...), strings.NewReader(""), &out1, &out1); code != exitOK {
		t.Fatalf("demo into SoftHSM: exit %d\n%s", code, out1.String())
	}
	if !strings.Contains(out1.String(), "HSM pkcs11:token="+tk.Label) || !strings.Contains(out1.String(), "hsm.key_loaded") {
		t.Fatalf("demo output:\n%s", out1.String())
	}
	// The checkpoint is signed by the token's audit key (issue 12, item 2).
	if !strings.Contains(out1.String(), "created the audit signing key in") || !strings.Contains(out1.String(), "Checkpoint (at shutdown)") {
		t.Fatalf("the demo into SoftHSM wrote no checkpoint with the token's key:\n%s", out1.String())
	}
	// The station names the module, the token's label and serial, and
	// marks SoftHSM as a software HSM (issue 14, item 7).
	var ev bytes.Buffer
	id := strings.Fields(strings.SplitAfter(out1.String(), "Ceremony ")[1])[0]
	run(context.Background(), []string{"events", id, "--json", "--data-dir", filepath.Join(dir1, "data")}, strings.NewReader(""), &ev, &ev)
	serial := tokenSerial(t, tk)
	for _, want := range []string{`"type":"ceremony.station"`, "PKCS#11 module ", "libsofthsm2.so, token", `token \"` + tk.Label + `\", serial ` + serial, `"software_hsm":true`} {
		if !strings.Contains(ev.String(), want) {
			t.Errorf("the events lack %s:\n%s", want, ev.String())
		}
	}
	code := run(context.Background(), append([]string{"demo", "--dir", dir2}, hsmArgs...), strings.NewReader(""), &out2, &out2)
	if code != exitNotDone || !strings.Contains(out2.String(), "different Backup Key") || !strings.Contains(out2.String(), "hsm.load_failed") {
		t.Fatalf("a second key into the same token: exit %d\n%s", code, out2.String())
	}
	secrets := cardSecrets(t, filepath.Join(dir1, "cards"), map[string]string{"card1": demoPINs[0], "card2": demoPINs[1], "card3": demoPINs[2]})
	secrets["token PIN"] = []byte(tk.PIN)
	scan(t, secrets, filepath.Join(dir1, "data"), map[string][]byte{"first demo": out1.Bytes(), "second demo": out2.Bytes()})
}

// tokenSerial is the serial number SoftHSM gave the token.
func tokenSerial(t *testing.T, tk *softhsmtest.Token) string {
	t.Helper()
	h := openToken(t, tk)
	defer h.Close()
	_, serial := h.Token()
	return serial
}

func TestPKCS11FlagsAreChecked(t *testing.T) {
	cases := []struct {
		args []string
		say  string
	}{
		{[]string{"demo", "--hsm", "pkcs11"}, "needs --pkcs11-token"},
		{[]string{"demo", "--hsm", "cloud"}, "use soft or pkcs11"},
		{[]string{"demo", "--pkcs11-token", "x"}, "need --hsm pkcs11"},
		{[]string{"demo", "--hsm", "pkcs11", "--pkcs11-token", "x", "--pkcs11-pin-file", "a", "--pkcs11-pin-env", "B"}, "not both"},
		{[]string{"demo", "--hsm", "pkcs11", "--pkcs11-token", "x"}, "--pkcs11-pin-file or --pkcs11-pin-env"},
	}
	for _, tc := range cases {
		var out bytes.Buffer
		code := run(context.Background(), append(tc.args, "--dir", t.TempDir()), strings.NewReader(""), &out, &out)
		if code != exitUsage || !strings.Contains(out.String(), tc.say) {
			t.Errorf("%v: exit %d, want %d saying %q:\n%s", tc.args, code, exitUsage, tc.say, out.String())
		}
	}
	var out bytes.Buffer
	t.Setenv("NOPE_PIN", "20250602")
	code := run(context.Background(), []string{"demo", "--dir", t.TempDir(), "--hsm", "pkcs11", "--pkcs11-module", "/nonexistent/libnope.so", "--pkcs11-token", "x", "--pkcs11-pin-env", "NOPE_PIN"}, strings.NewReader(""), &out, &out)
	if code != exitError || !strings.Contains(out.String(), "/nonexistent/libnope.so") {
		t.Errorf("a module that does not exist: exit %d:\n%s", code, out.String())
	}
	// The PIN variable is taken out of the environment once read (also
	// out of /proc/PID/environ: ceremonies/secret TestTakeEnvClearsProcEnviron).
	if _, set := os.LookupEnv("NOPE_PIN"); set {
		t.Error("--pkcs11-pin-env left the PIN in the environment")
	}
	out.Reset()
	code = run(context.Background(), []string{"demo", "--dir", t.TempDir(), "--hsm", "pkcs11", "--pkcs11-token", "x", "--pkcs11-pin-env", "CEREMONY_TEST_NEVER_SET"}, strings.NewReader(""), &out, &out)
	if code != exitUsage || !strings.Contains(out.String(), "CEREMONY_TEST_NEVER_SET: the variable is not set") {
		t.Errorf("an unset PIN variable: exit %d:\n%s", code, out.String())
	}
}
