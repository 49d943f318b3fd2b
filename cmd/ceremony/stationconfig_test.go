package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
	"github.com/ceremony-hsm/ceremony/internal/stationconfig"
)

// writeFile writes a test file with mode.
func writeFile(t *testing.T, path, text string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFlagsWinTheFileFillsTheRest parses a real command line of
// the real command tree with --config and reads back the flags.
func TestConfigFlagsWinTheFileFillsTheRest(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "station.yaml"), `store:
  data_dir: store
readers:
  ceremony: "Virtual PCD 00 00"
hsm:
  module: /usr/lib/softhsm/libsofthsm2.so
  token: "pkcs11:token=ceremony"
  pin_env: STATION_PIN
step_timeout: 7m
`, 0o600)
	cases := []struct {
		name string
		args []string
		want map[string]string
	}{
		{"the file fills every flag", []string{"generate", "--config", cfg}, map[string]string{
			"data-dir": filepath.Join(dir, "store"), "reader": "Virtual PCD 00 00", "step-timeout": "7m0s",
			"hsm": "pkcs11", "pkcs11-module": "/usr/lib/softhsm/libsofthsm2.so", "pkcs11-token": "pkcs11:token=ceremony", "pkcs11-pin-env": "STATION_PIN", "pkcs11-pin-file": "",
		}},
		{"flags win", []string{"generate", "--config", cfg, "--reader", "Other 00", "--step-timeout", "1m", "--data-dir", "/elsewhere", "--pkcs11-pin-file", "/p"}, map[string]string{
			"data-dir": "/elsewhere", "reader": "Other 00", "step-timeout": "1m0s",
			"hsm": "pkcs11", "pkcs11-token": "pkcs11:token=ceremony", "pkcs11-pin-env": "", "pkcs11-pin-file": "/p",
		}},
		{"--hsm soft sets the file's HSM aside", []string{"generate", "--config", cfg, "--hsm", "soft"}, map[string]string{
			"hsm": "soft", "pkcs11-module": "", "pkcs11-token": "", "pkcs11-pin-env": "", "reader": "Virtual PCD 00 00",
		}},
		{"--nats sets the file's store aside", []string{"list", "--config", cfg, "--nats", "nats://127.0.0.1:4222"}, map[string]string{
			"data-dir": "", "nats": "[nats://127.0.0.1:4222]",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := newRoot()
			cmd, rest, err := root.Find(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Fatal(err)
			}
			if err := applyConfig(cmd); err != nil {
				t.Fatal(err)
			}
			for flag, want := range tc.want {
				if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
					t.Errorf("--%s = %q, want %q", flag, got, want)
				}
			}
		})
	}
}

// TestConfigOnACommand runs commands with --config: the file's store is
// used, a flag's store wins, and a bad file stops the command with its
// line before anything is opened.
func TestConfigOnACommand(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "station.yaml"), "store:\n  data_dir: from-file\n  sync: relaxed\n", 0o600)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"list", "--config", cfg}, strings.NewReader(""), &out, &out); code != exitOK {
		t.Fatalf("list --config: exit %d\n%s", code, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "from-file")); err != nil || !strings.Contains(out.String(), "--sync relaxed") {
		t.Fatalf("the file's store was not used (%v):\n%s", err, out.String())
	}
	out.Reset()
	flagDir := filepath.Join(t.TempDir(), "from-flag")
	if code := run(context.Background(), []string{"--config", cfg, "list", "--data-dir", flagDir}, strings.NewReader(""), &out, &out); code != exitOK {
		t.Fatalf("list --config --data-dir: exit %d\n%s", code, out.String())
	}
	if _, err := os.Stat(flagDir); err != nil || strings.Contains(out.String(), "relaxed") {
		t.Fatalf("the flag's store did not win (%v):\n%s", err, out.String())
	}
	bad := writeFile(t, filepath.Join(dir, "bad.yaml"), "store:\n  data_dir: x\nhsm:\n  pin: \"51728394\"\n", 0o600)
	out.Reset()
	code := run(context.Background(), []string{"list", "--config", bad}, strings.NewReader(""), &out, &out)
	if code != exitUsage || !strings.Contains(out.String(), "bad.yaml:4: hsm.pin: a PIN never goes into the station config file") || strings.Contains(out.String(), "51728394") {
		t.Fatalf("a PIN in the file: exit %d\n%s", code, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Fatal("a bad config file still opened its store")
	}
	out.Reset()
	code = run(context.Background(), []string{"list", "--config", filepath.Join(dir, "none.yaml")}, strings.NewReader(""), &out, &out)
	if code != exitUsage || !strings.Contains(out.String(), "none.yaml") {
		t.Fatalf("a missing config file: exit %d\n%s", code, out.String())
	}
}

// TestConfigExampleParses: what 'config example' prints is the
// documented example, and it parses.
func TestConfigExampleParses(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"config", "example"}, strings.NewReader(""), &out, &out); code != exitOK {
		t.Fatalf("config example: exit %d\n%s", code, out.String())
	}
	if _, err := stationconfig.Parse("example", out.Bytes()); err != nil {
		t.Fatal(err)
	}
	dist, err := os.ReadFile("../../dist/station.example.yaml")
	if err != nil || !bytes.Equal(dist, out.Bytes()) {
		t.Fatalf("dist/station.example.yaml is not what 'config example' prints (%v)", err)
	}
}

// TestConfigCheck validates station files against a real SoftHSM2 token
// and a real pcscd with its vpcd readers, in a subprocess each (pcsc-lite
// reads its socket's name once per process).
func TestConfigCheck(t *testing.T) {
	tk := softhsmtest.New(t, "station-check")
	pcscdtest.Start(t) // its socket is in the environment the subprocesses inherit
	s := newSite(t)
	dir := t.TempDir()
	pin := writeFile(t, filepath.Join(dir, "token.pin"), "not-read\n", 0o600)
	station := func(name, token, pinFile string) string {
		return writeFile(t, filepath.Join(dir, name), `store:
  data_dir: data
readers:
  ceremony: "Virtual PCD 00 00"
  spare: ["Virtual PCD 00 07"]
hsm:
  module: `+tk.Module+`
  token: "pkcs11:token=`+token+`"
  pin_file: `+pinFile+`
step_timeout: 5m
`, 0o600)
	}

	t.Run("a good file: the module loads, the token is found, readers present and absent", func(t *testing.T) {
		code, out := s.runBare(t, "config", "check", station("good.yaml", tk.Label, pin))
		for _, want := range []string{
			`good.yaml:6: ok: hsm: the PKCS#11 module loads and holds token "station-check"`,
			`good.yaml:4: ok: readers.ceremony: "Virtual PCD 00 00" is present`,
			`good.yaml:5: warning: readers.spare.0: "Virtual PCD 00 07" is absent`,
			`good.yaml:2: warning: store.data_dir:`,
			"ready for the day (2 warnings)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("lacks %q", want)
			}
		}
		if code != exitOK || t.Failed() {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})

	t.Run("a wrong token and an open PIN file are problems naming their lines", func(t *testing.T) {
		open := writeFile(t, filepath.Join(dir, "open.pin"), "not-read\n", 0o644)
		code, out := s.runBare(t, "config", "check", station("wrong.yaml", "no-such-token", open))
		for _, want := range []string{
			`wrong.yaml:6: error: hsm: pkcs11hsm: probe: token not found: no token matches pkcs11:token=no-such-token`,
			`tokens present: "station-check"`,
			`wrong.yaml:9: error: hsm.pin_file: ` + open + ` has mode 0644: others can read it; run 'chmod 600`,
			"2 problems",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("lacks %q", want)
			}
		}
		if code != exitError || t.Failed() {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})

	t.Run("a kind under dual control that no kind is", func(t *testing.T) {
		f := writeFile(t, filepath.Join(dir, "dual.yaml"), "store:\n  data_dir: d\ndual_control: [backup-key-generate, backup-key-lode]\n", 0o600)
		code, out := s.runBare(t, "config", "check", f)
		if want := "dual.yaml:3: error: dual_control: backup-key-lode: no kind of that name can be started: give kinds among"; code != exitError || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %d and %q:\n%s", code, exitError, want, out)
		}
	})

	t.Run("unknown keys and bad types name their lines", func(t *testing.T) {
		f := writeFile(t, filepath.Join(dir, "typo.yaml"), "store:\n  data_dir: d\nstep_timeout: soon\nreaders:\n  ceremoni: x\n", 0o600)
		code, out := s.runBare(t, "config", "check", f)
		for _, want := range []string{"typo.yaml:3: error: cannot unmarshal", "into a duration", "typo.yaml:5: error: field ceremoni not found (readers has ceremony, spare)"} {
			if !strings.Contains(out, want) {
				t.Errorf("lacks %q", want)
			}
		}
		if code != exitUsage || t.Failed() {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	scan(t, map[string][]byte{"token PIN": []byte(tk.PIN)}, filepath.Join(dir), map[string][]byte{"outputs": s.outputs.Bytes()})
}

// TestConfigCheckNATS: 'config check' of a file naming NATS servers
// connects with its nkey, finds JetStream and checks the existing stream's
// settings; a replica count the stream does not have, a server that does
// not answer and a key the server does not know are problems that say
// what to do. The service of 'ceremony serve' is the server; nothing is
// created on it, and the key's seed is in no output.
func TestConfigCheckNATS(t *testing.T) {
	s := newSite(t)
	s.serve(t)
	svc, err := readService(s.dataDir)
	if err != nil || svc == nil {
		t.Fatalf("the service file: %v %v", svc, err)
	}
	dir := t.TempDir()
	station := func(name, url, nkey, extra string) string {
		return writeFile(t, filepath.Join(dir, name), "store:\n  nats:\n    urls: [\""+url+"\"]\n    nkey: "+nkey+"\n"+extra, 0o600)
	}
	check := func(t *testing.T, file string, wantCode int, wants ...string) {
		t.Helper()
		code, out := s.runBare(t, "config", "check", file)
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("lacks %q", want)
			}
		}
		if code != wantCode || t.Failed() {
			t.Fatalf("exit %d, want %d:\n%s", code, wantCode, out)
		}
	}
	t.Run("the service's server and stream", func(t *testing.T) {
		check(t, station("good.yaml", svc.URL, svc.NkeyFile, ""), exitOK,
			"good.yaml:2: ok: store.nats: connected to ", "(nats-server 2.",
			"ok: store.nats: stream CEREMONIES has the settings the store needs (replicas: 1)", "ready for the day (0 warnings)")
	})
	t.Run("three replicas asked of a stream that has one", func(t *testing.T) {
		check(t, station("r3.yaml", svc.URL, svc.NkeyFile, "    replicas: 3\n"), exitError,
			"error: store.nats: jetstream: stream CEREMONIES exists with other settings: replicas 1, want 3", "1 problems")
	})
	t.Run("no server answers", func(t *testing.T) {
		check(t, station("down.yaml", "nats://127.0.0.1:1", svc.NkeyFile, ""), exitError,
			"error: store.nats: jetstream: connect to nats://127.0.0.1:1:", "is the server running and the URL right?")
	})
	t.Run("a key the server does not know", func(t *testing.T) {
		other := filepath.Join(dir, "other.nk")
		if _, err := jetstream.CreateNkeySeed(other); err != nil {
			t.Fatal(err)
		}
		check(t, station("stranger.yaml", svc.URL, other, ""), exitError,
			"error: store.nats:", "check the credentials or nkey seed file")
	})
	seed, err := os.ReadFile(svc.NkeyFile)
	if err != nil {
		t.Fatal(err)
	}
	scan(t, map[string][]byte{"nkey seed": bytes.TrimSpace(seed)}, dir, map[string][]byte{"outputs": s.outputs.Bytes()})
}
