package stationconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Severity says whether a finding stops the day (Problem), is worth
// knowing (Warning) or says what was found in order (OK).
type Severity int

const (
	OK Severity = iota
	Warning
	Problem
)

func (s Severity) String() string {
	switch s {
	case Problem:
		return "error"
	case Warning:
		return "warning"
	}
	return "ok"
}

// Finding is what Check found about one key of the file.
type Finding struct {
	Severity Severity
	Line     int
	Key      string
	Msg      string
}

func (f Finding) String() string {
	return fmt.Sprintf("line %d: %s: %s: %s", f.Line, f.Severity, f.Key, f.Msg)
}

// secretFile is a file whose content is a credential: only its owner may
// read it.
const secretModes fs.FileMode = 0o077

// Check looks at what the file references on this machine: the files
// exist, credentials and the PIN file are readable by their owner only
// (0600 or stricter), the PIN variable is set. getenv is os.LookupEnv in
// the command, a map in tests. It opens no module and talks to no pcscd
// (the command does).
func (c *Config) Check(getenv func(string) (string, bool)) []Finding {
	var out []Finding
	add := func(sev Severity, key, format string, a ...any) {
		out = append(out, Finding{sev, c.Line(key), key, fmt.Sprintf(format, a...)})
	}
	file := func(key, path string, secret bool) {
		if path == "" {
			return
		}
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			add(Problem, key, "%s does not exist: fix the path (relative paths are relative to the config file's directory)", path)
			return
		case err != nil:
			add(Problem, key, "%s: %v", path, err)
			return
		case fi.IsDir():
			add(Problem, key, "%s is a directory: name the file", path)
			return
		}
		if secret && fi.Mode().Perm()&secretModes != 0 {
			add(Problem, key, "%s has mode %04o: others can read it; run 'chmod 600 %s'", path, fi.Mode().Perm(), path)
		}
		if f, err := os.Open(path); err != nil {
			add(Problem, key, "%s cannot be read by this user: %v", path, err)
		} else {
			f.Close()
		}
	}
	dir := func(key, path, absent string) {
		if path == "" {
			return
		}
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			add(Warning, key, "%s does not exist yet: %s", path, absent)
		case err != nil:
			add(Problem, key, "%s: %v", path, err)
		case !fi.IsDir():
			add(Problem, key, "%s is not a directory", path)
		case fi.Mode().Perm()&0o002 != 0:
			add(Problem, key, "%s is writable by everyone (mode %04o): run 'chmod 700 %s'", path, fi.Mode().Perm(), path)
		}
	}
	n := c.Store.NATS
	dir("store.data_dir", c.Store.DataDir, "the first command that opens the store creates it")
	file("store.nats.creds", n.Creds, true)
	file("store.nats.nkey", n.Nkey, true)
	file("store.nats.tlscert", n.TLSCert, false)
	file("store.nats.tlskey", n.TLSKey, true)
	file("store.nats.tlsca", n.TLSCA, false)
	file("hsm.pin_file", c.HSM.PINFile, true)
	if c.HSM.Module != "" && os.IsPathSeparator(c.HSM.Module[0]) {
		file("hsm.module", c.HSM.Module, false)
	}
	if c.HSM.PINEnv != "" {
		if v, ok := getenv(c.HSM.PINEnv); !ok || v == "" {
			add(Warning, "hsm.pin_env", "the variable %s is not set in this shell: export it before a ceremony that uses the HSM", c.HSM.PINEnv)
		}
	}
	dir("backup_dir", c.BackupDir, "create it (mode 0700) before the first backup")
	return out
}
