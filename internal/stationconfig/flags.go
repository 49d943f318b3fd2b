package stationconfig

import (
	"path/filepath"
	"strconv"
	"strings"
)

// Setting is a command-line flag a config file sets: the value it gives,
// and the line it comes from.
type Setting struct {
	Flag  string
	Value string
	Line  int
}

// Changed says whether the user gave a flag on the command line, and its
// value if so (pflag's Flag.Changed).
type Changed func(flag string) (value string, given bool)

// storeFlags are the flags that choose the event store: given one on the
// command line, the user chose the store, and the file's is not used.
var storeFlags = []string{"data-dir", "sync", "nats", "nats-creds", "nats-nkey", "tlscert", "tlskey", "tlsca", "replicas"}

// Settings returns the flags the file sets that the command line does not:
// flags win, the file fills the rest. A group decides as one: a store flag
// on the command line sets aside the file's whole store; a PIN source
// flag, the file's PIN source; --hsm soft, the file's HSM.
func (c *Config) Settings(changed Changed) []Setting {
	var out []Setting
	given := func(flags ...string) bool {
		for _, f := range flags {
			if _, ok := changed(f); ok {
				return true
			}
		}
		return false
	}
	add := func(flag, value, key string) {
		if value != "" && !given(flag) {
			out = append(out, Setting{flag, value, c.Line(key)})
		}
	}
	if !given(storeFlags...) {
		s, n := c.Store, c.Store.NATS
		add("data-dir", s.DataDir, "store.data_dir")
		add("sync", s.Sync, "store.sync")
		add("nats", strings.Join(n.URLs, ","), "store.nats.urls")
		add("nats-creds", n.Creds, "store.nats.creds")
		add("nats-nkey", n.Nkey, "store.nats.nkey")
		add("tlscert", n.TLSCert, "store.nats.tlscert")
		add("tlskey", n.TLSKey, "store.nats.tlskey")
		add("tlsca", n.TLSCA, "store.nats.tlsca")
		if n.Replicas > 0 {
			add("replicas", strconv.Itoa(n.Replicas), "store.nats.replicas")
		}
	}
	add("reader", c.Readers.Ceremony, "readers.ceremony")
	if c.StepTimeout > 0 {
		add("step-timeout", c.StepTimeout.String(), "step_timeout")
	}
	add("backup-dir", c.BackupDir, "backup_dir")
	add("dual-control", strings.Join(c.DualControl, ","), "dual_control")
	h := c.HSM
	if kind, ok := changed("hsm"); ok && kind != "pkcs11" {
		return out // the user chose another HSM for this command
	}
	add("hsm", h.Kind, "hsm.kind")
	add("pkcs11-module", h.Module, "hsm.module")
	add("pkcs11-token", h.Token, "hsm.token")
	if !given("pkcs11-pin-env", "pkcs11-pin-file") {
		add("pkcs11-pin-env", h.PINEnv, "hsm.pin_env")
		add("pkcs11-pin-file", h.PINFile, "hsm.pin_file")
	}
	return out
}

// resolvePaths makes the file's relative paths relative to the directory
// the file is in, so that it means the same from any working directory.
// A module named without a slash is left to the dynamic loader's search.
func (c *Config) resolvePaths() {
	dir := filepath.Dir(c.File)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	n := &c.Store.NATS
	for _, p := range []*string{&c.Store.DataDir, &n.Creds, &n.Nkey, &n.TLSCert, &n.TLSKey, &n.TLSCA, &c.HSM.PINFile, &c.BackupDir} {
		abs(p)
	}
	if strings.ContainsRune(c.HSM.Module, '/') {
		abs(&c.HSM.Module)
	}
}
