package stationconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRefusesBadFilesNamingTheLine(t *testing.T) {
	cases := []struct {
		name, yaml string
		line       int
		say        string
	}{
		{"unknown key", "store:\n  data_dir: d\n  datadir: e\n", 3, "field datadir not found (store has data_dir, sync, nats)"},
		{"unknown top key", "step_timeout: 5m\nreder: x\n", 2, "a station config has store, readers"},
		{"bad type", "store:\n  nats:\n    replicas: three\n", 3, "cannot unmarshal"},
		{"bad duration", "step_timeout: five minutes\n", 1, "into a duration"},
		{"zero duration", "\n\nstep_timeout: 0s\n", 3, "give a positive duration"},
		{"literal PIN", "hsm:\n  token: t\n  pin: \"12345678\"\n", 3, "a PIN never goes into the station config file"},
		{"PIN in the env key", "hsm:\n  token: t\n  pin_env: \"12345678\"\n", 3, "never the PIN itself"},
		{"PIN in the URI", "hsm:\n  token: \"pkcs11:token=x?pin-value=1234\"\n", 2, "holds a pin-value"},
		{"two PIN sources", "hsm:\n  token: t\n  pin_env: P\n  pin_file: f\n", 1, "give the token PIN one way"},
		{"two stores", "store:\n  data_dir: d\n  nats:\n    urls: [nats://a:4222]\n", 1, "give one store"},
		{"sync with nats", "store:\n  sync: relaxed\n  nats:\n    urls: [nats://a:4222]\n", 2, "sync_interval"},
		{"bad sync", "store:\n  sync: sometimes\n", 2, "use always or relaxed"},
		{"bad URL", "store:\n  nats:\n    urls:\n      - nats://a:4222\n      - http://b\n", 5, "nats://host:port or tls://host:port"},
		{"creds without URLs", "store:\n  nats:\n    creds: c\n", 2, "without nats.urls"},
		{"bad HSM kind", "hsm:\n  kind: cloud\n", 2, "use soft or pkcs11"},
		{"soft with a token", "hsm:\n  kind: soft\n  token: t\n", 2, "takes no module"},
		{"empty", "", 1, "the file is empty"},
		{"two documents", "step_timeout: 5m\n---\nbackup_dir: b\n", 2, "a second YAML document"},
		{"syntax", "store:\n  data_dir: [\n", 2, "did not find expected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("station.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			want := "station.yaml:" + strconv.Itoa(tc.line) + ": "
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("error %q, want %q and %q", err, want, tc.say)
			}
			if strings.Contains(err.Error(), "12345678") || strings.Contains(err.Error(), "=1234") {
				t.Fatalf("the error repeats the PIN: %q", err)
			}
		})
	}
}

func TestExampleParsesAndMatchesDist(t *testing.T) {
	c, err := Parse("example.yaml", Example)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.DataDir != "/var/lib/ceremony" || c.StepTimeout != 5*time.Minute || c.HSM.PINEnv != "CEREMONY_HSM_PIN" || c.Readers.Ceremony == "" {
		t.Fatalf("example parsed as %+v", c)
	}
	dist, err := os.ReadFile("../../dist/station.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dist, Example) {
		t.Fatal("dist/station.example.yaml differs from internal/stationconfig/example.yaml: copy one onto the other")
	}
}

func TestRelativePathsAreTheFilesDirectory(t *testing.T) {
	c, err := Parse("/etc/ceremony/station.yaml", []byte("store:\n  data_dir: data\nhsm:\n  module: libsofthsm2.so\n  token: t\n  pin_file: pin\nbackup_dir: /b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.DataDir != "/etc/ceremony/data" || c.HSM.PINFile != "/etc/ceremony/pin" || c.BackupDir != "/b" || c.HSM.Module != "libsofthsm2.so" || c.HSM.Kind != "pkcs11" {
		t.Fatalf("paths: %+v", c)
	}
}

func TestSettingsFlagsWinTheFileFillsTheRest(t *testing.T) {
	c, err := Parse("/s/station.yaml", []byte(`store:
  data_dir: /d
  sync: relaxed
readers:
  ceremony: R0
hsm:
  module: /m.so
  token: tok
  pin_env: PIN_VAR
step_timeout: 90s
backup_dir: /b
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		changed map[string]string
		want    string // flag=value settings, in order
	}{
		{"nothing given", nil, "data-dir=/d sync=relaxed reader=R0 step-timeout=1m30s backup-dir=/b hsm=pkcs11 pkcs11-module=/m.so pkcs11-token=tok pkcs11-pin-env=PIN_VAR"},
		{"a flag wins", map[string]string{"reader": "R1", "step-timeout": "1m"}, "data-dir=/d sync=relaxed backup-dir=/b hsm=pkcs11 pkcs11-module=/m.so pkcs11-token=tok pkcs11-pin-env=PIN_VAR"},
		{"a store flag sets the file's store aside", map[string]string{"nats": "nats://x:4222"}, "reader=R0 step-timeout=1m30s backup-dir=/b hsm=pkcs11 pkcs11-module=/m.so pkcs11-token=tok pkcs11-pin-env=PIN_VAR"},
		{"a PIN file sets the file's PIN source aside", map[string]string{"pkcs11-pin-file": "/p"}, "data-dir=/d sync=relaxed reader=R0 step-timeout=1m30s backup-dir=/b hsm=pkcs11 pkcs11-module=/m.so pkcs11-token=tok"},
		{"--hsm soft sets the file's HSM aside", map[string]string{"hsm": "soft"}, "data-dir=/d sync=relaxed reader=R0 step-timeout=1m30s backup-dir=/b"},
		{"--hsm pkcs11 keeps the file's token", map[string]string{"hsm": "pkcs11", "pkcs11-token": "other"}, "data-dir=/d sync=relaxed reader=R0 step-timeout=1m30s backup-dir=/b pkcs11-module=/m.so pkcs11-pin-env=PIN_VAR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range c.Settings(func(f string) (string, bool) { v, ok := tc.changed[f]; return v, ok }) {
				if s.Line < 2 {
					t.Errorf("%s comes from line %d", s.Flag, s.Line)
				}
				got = append(got, s.Flag+"="+s.Value)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Fatalf("settings\n got %s\nwant %s", g, tc.want)
			}
		})
	}
}

func TestCheckFilesAndModes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return name
	}
	write("good.creds", 0o600)
	write("open.pin", 0o644)
	write("ca.pem", 0o644)
	cfgFile := filepath.Join(dir, "station.yaml")
	c, err := Parse(cfgFile, []byte(`store:
  nats:
    urls: [nats://127.0.0.1:4222]
    creds: good.creds
    tlsca: ca.pem
hsm:
  token: t
  module: /nonexistent/libnope.so
  pin_file: open.pin
backup_dir: missing-dir
`))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Check(func(string) (string, bool) { return "", false })
	want := []struct {
		sev      Severity
		key, say string
		line     int
	}{
		{Problem, "hsm.pin_file", "has mode 0644: others can read it; run 'chmod 600", 9},
		{Problem, "hsm.module", "/nonexistent/libnope.so does not exist", 8},
		{Warning, "backup_dir", "does not exist yet", 10},
	}
	if len(got) != len(want) {
		t.Fatalf("findings %v, want %d", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Severity != w.sev || g.Key != w.key || g.Line != w.line || !strings.Contains(g.Msg, w.say) {
			t.Errorf("finding %d: %v, want %v %s line %d saying %q", i, g, w.sev, w.key, w.line, w.say)
		}
	}
	// The PIN variable: a warning when it is not set, nothing when it is.
	c2, err := Parse(cfgFile, []byte("hsm:\n  token: t\n  pin_env: STATION_PIN\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := c2.Check(func(string) (string, bool) { return "", false }); len(f) != 1 || f[0].Severity != Warning || f[0].Line != 3 {
		t.Fatalf("unset PIN variable: %v", f)
	}
	if f := c2.Check(func(string) (string, bool) { return "1", true }); len(f) != 0 {
		t.Fatalf("set PIN variable: %v", f)
	}
}
