// Package stationconfig reads the station config file (`--config
// station.yaml`): what operators would otherwise retype on every command
// (the event store, the readers, the HSM and its PIN source, the step
// timeout, the backup directory). It parses strictly, checks what the file
// references, and says which command-line flags the file sets; flags given
// on the command line win (README.md, "Station config file").
//
// The file never holds a secret: a PIN is named by where it comes from
// (an environment variable or a file), and a literal PIN is refused.
package stationconfig

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ceremony-hsm/ceremony/internal/yamllines"

	"go.yaml.in/yaml/v3"
)

// Config is one station config file.
type Config struct {
	Store       Store         `yaml:"store"`
	Readers     Readers       `yaml:"readers"`
	HSM         HSM           `yaml:"hsm"`
	StepTimeout time.Duration `yaml:"step_timeout"` // --step-timeout
	BackupDir   string        `yaml:"backup_dir"`   // --backup-dir
	// DualControl names the kinds whose console start needs a second
	// operator's approval before the first card step (serve --dual-control).
	DualControl []string `yaml:"dual_control"`

	File  string         `yaml:"-"` // the path it was read from
	lines map[string]int // "store.nats.creds" -> its line
}

// Store says where the event store is: a data directory or NATS servers,
// never both.
type Store struct {
	DataDir string `yaml:"data_dir"` // --data-dir
	Sync    string `yaml:"sync"`     // --sync (with data_dir only)
	NATS    NATS   `yaml:"nats"`
}

// NATS is an existing NATS server or cluster, named as the NATS CLI
// names it.
type NATS struct {
	URLs     []string `yaml:"urls"`     // --nats
	Creds    string   `yaml:"creds"`    // --nats-creds
	Nkey     string   `yaml:"nkey"`     // --nats-nkey
	TLSCert  string   `yaml:"tlscert"`  // --tlscert
	TLSKey   string   `yaml:"tlskey"`   // --tlskey
	TLSCA    string   `yaml:"tlsca"`    // --tlsca
	Replicas int      `yaml:"replicas"` // --replicas
}

// Readers are the station's PC/SC readers by role.
type Readers struct {
	Ceremony string   `yaml:"ceremony"` // --reader: the one ceremonies use
	Spare    []string `yaml:"spare"`    // others the station has ('config check' looks for them)
}

// HSM is the HSM a ceremony loads the Backup Key into, and where its PIN
// comes from.
type HSM struct {
	Kind    string `yaml:"kind"`     // --hsm: soft or pkcs11
	Module  string `yaml:"module"`   // --pkcs11-module
	Token   string `yaml:"token"`    // --pkcs11-token: label, serial or PKCS#11 URI (RFC 7512)
	PINEnv  string `yaml:"pin_env"`  // --pkcs11-pin-env: an environment variable's name
	PINFile string `yaml:"pin_file"` // --pkcs11-pin-file
}

// Error is a problem at a line of a config file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Errors are all the problems of a file, in order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Example is the documented example file (dist/station.example.yaml holds
// the same text; a test keeps them equal).
//
//go:embed example.yaml
var Example []byte

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the station config file: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a config file strictly: a YAML syntax error, an unknown key
// or a value of the wrong type is an error naming its line, and so is a
// value that cannot be right (a literal PIN, two stores, a bad duration).
// It does not look at the files the config names (Check does).
func Parse(file string, data []byte) (*Config, error) {
	c := &Config{File: file}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErrors(file, err)
	}
	c.lines = yamllines.Lines(&root)
	// A literal PIN is named as such, before the strict decoder calls it
	// an unknown key.
	var errs Errors
	for _, key := range []string{"pin", "hsm.pin", "hsm.pin_value", "hsm.token_pin", "pin_value"} {
		if l, ok := c.lines[key]; ok {
			errs = append(errs, &Error{file, l, key + ": a PIN never goes into the station config file: name where it comes from with hsm.pin_env (an environment variable) or hsm.pin_file (a file, mode 0600)"})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{file, 1, "the file is empty: see 'ceremony config example'"}}
		}
		return nil, yamlErrors(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, Errors{{file, extra.Line, "a second YAML document: a station config is one document"}}
	}
	if c.HSM.Kind == "" && (c.HSM.Token != "" || c.HSM.Module != "") {
		c.HSM.Kind = "pkcs11" // a token named is a PKCS#11 token
	}
	if errs := c.validate(); len(errs) > 0 {
		return nil, errs
	}
	c.resolvePaths()
	return c, nil
}

// envName is what an environment variable's name looks like.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate checks the values that need no file system.
func (c *Config) validate() Errors {
	var errs Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &Error{c.File, c.Line(key), key + ": " + fmt.Sprintf(format, a...)})
	}
	s, n := c.Store, c.Store.NATS
	remote := len(n.URLs) > 0
	if s.DataDir != "" && remote {
		bad("store", "give one store: data_dir (a directory on this machine) or nats.urls (NATS servers), not both")
	}
	if !remote && (n.Creds != "" || n.Nkey != "" || n.TLSCert != "" || n.TLSKey != "" || n.TLSCA != "" || n.Replicas != 0) {
		bad("store.nats", "credentials, TLS files or replicas without nats.urls: add the servers' URLs, or remove them")
	}
	if remote && s.Sync != "" {
		bad("store.sync", "sync is for a data_dir store: on NATS servers their sync_interval decides durability (set it to always on every node)")
	}
	if s.Sync != "" && s.Sync != "always" && s.Sync != "relaxed" {
		bad("store.sync", "%q: use always or relaxed", s.Sync)
	}
	for i, u := range n.URLs {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			bad("store.nats.urls."+strconv.Itoa(i), "%q: a URL is nats://host:port or tls://host:port", u)
		}
	}
	if n.Creds != "" && n.Nkey != "" {
		bad("store.nats", "creds and nkey: give one way to authenticate")
	}
	if (n.TLSCert == "") != (n.TLSKey == "") {
		bad("store.nats", "tlscert and tlskey go together: give both or neither")
	}
	if n.Replicas < 0 || n.Replicas > 5 {
		bad("store.nats.replicas", "%d: give 1 to 5, or leave it out", n.Replicas)
	}
	h := c.HSM
	switch h.Kind {
	case "", "pkcs11":
	case "soft":
		if h.Module != "" || h.Token != "" || h.PINEnv != "" || h.PINFile != "" {
			bad("hsm.kind", "soft (the in-memory rehearsal HSM) takes no module, token or PIN source: set kind: pkcs11, or remove them")
		}
	default:
		bad("hsm.kind", "%q: use soft or pkcs11", h.Kind)
	}
	if h.Kind == "pkcs11" && h.Token == "" {
		bad("hsm", "kind pkcs11 needs token (a label, serial or pkcs11: URI)")
	}
	if strings.Contains(h.Token, "pin-value") {
		bad("hsm.token", "the URI holds a pin-value: a PIN never goes into the station config file; use hsm.pin_env or hsm.pin_file")
	}
	if h.PINEnv != "" && h.PINFile != "" {
		bad("hsm", "pin_env and pin_file: give the token PIN one way")
	}
	if h.PINEnv != "" && !envName.MatchString(h.PINEnv) {
		bad("hsm.pin_env", "this is not an environment variable's name (letters, digits, _; not starting with a digit): give the variable's name, never the PIN itself")
	}
	if c.StepTimeout < 0 || (c.StepTimeout == 0 && c.has("step_timeout")) {
		bad("step_timeout", "%v: give a positive duration, e.g. 5m", c.StepTimeout)
	}
	return errs
}

// has says whether the file sets key.
func (c *Config) has(key string) bool {
	_, ok := c.lines[key]
	return ok
}

// Line returns the line of key ("store.nats.creds"), or of the nearest
// enclosing key that has one, or 1.
func (c *Config) Line(key string) int {
	for key != "" {
		if l, ok := c.lines[key]; ok {
			return l
		}
		i := strings.LastIndex(key, ".")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 1
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlErrors turns the YAML library's errors ("line 3: field x not found
// in type stationconfig.Store") into Errors.
func yamlErrors(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out Errors
	for _, m := range msgs {
		line, msg := 1, m
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			line, _ = strconv.Atoi(g[1])
			msg = g[2]
		}
		for typ, keys := range knownKeys {
			msg = strings.Replace(msg, "in type stationconfig."+typ, "("+keys+")", 1)
		}
		msg = strings.Replace(msg, "into time.Duration", "into a duration (e.g. 5m, 90s)", 1)
		out = append(out, &Error{file, line, msg})
	}
	return out
}

// knownKeys says, for each part of the file, which keys it has.
var knownKeys = map[string]string{
	"Config":  "a station config has store, readers, hsm, step_timeout, backup_dir, dual_control",
	"Store":   "store has data_dir, sync, nats",
	"NATS":    "store.nats has urls, creds, nkey, tlscert, tlskey, tlsca, replicas",
	"Readers": "readers has ceremony, spare",
	"HSM":     "hsm has kind, module, token, pin_env, pin_file",
}
