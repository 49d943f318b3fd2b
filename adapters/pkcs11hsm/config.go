package pkcs11hsm

import (
	"bytes"
	"fmt"
	"os"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
)

// Config says which module and token to open and where the PIN comes from.
type Config struct {
	// Module is the path of the PKCS#11 module (.so). It may instead come
	// from the module-path of a URI in Token; if both are given they must
	// agree.
	Module string
	// Token is the token's label, its serial number, or a PKCS#11 URI
	// (RFC 7512) such as
	// "pkcs11:token=ceremony;serial=abc?module-path=/usr/lib/softhsm/libsofthsm2.so".
	Token string
	// PIN is where the user PIN comes from. A URI's pin-source=file:...
	// may stand in for it.
	PIN PINSource
	// Name is the HSM's name in events; default "pkcs11:token=<label>".
	Name string
}

// PINSource names exactly one place the user PIN is read from. The PIN is
// never taken from a command-line flag value or from a URI pin-value.
type PINSource struct {
	Env    string                 // name of an environment variable holding the PIN
	File   string                 // path of a file holding the PIN (one line)
	Prompt func() ([]byte, error) // asks someone; the returned bytes are wiped after use
}

// describe names the source without its content, for errors.
func (p PINSource) describe() string {
	switch {
	case p.Env != "":
		return "environment variable " + p.Env
	case p.File != "":
		return "file " + p.File
	case p.Prompt != nil:
		return "prompt"
	}
	return "no PIN source"
}

func (p PINSource) count() int {
	n := 0
	if p.Env != "" {
		n++
	}
	if p.File != "" {
		n++
	}
	if p.Prompt != nil {
		n++
	}
	return n
}

// read returns the PIN. The caller wipes it. A file's trailing line end
// is dropped; an empty PIN is refused.
func (p PINSource) read() ([]byte, error) {
	var pin []byte
	switch {
	case p.Env != "":
		// Taken out of the environment (and /proc/PID/environ) once read.
		v, ok, err := secret.TakeEnv(p.Env)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPINSource, err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: environment variable %s is not set: export it or use a PIN file", ErrPINSource, p.Env)
		}
		pin = v
	case p.File != "":
		raw, err := os.ReadFile(p.File)
		if err != nil {
			return nil, fmt.Errorf("%w: read the PIN file: %w", ErrPINSource, err)
		}
		pin = append([]byte(nil), bytes.TrimRight(raw, "\r\n")...)
		ceremonies.Wipe(raw)
	case p.Prompt != nil:
		got, err := p.Prompt()
		if err != nil {
			ceremonies.Wipe(got)
			return nil, fmt.Errorf("%w: prompt: %w", ErrPINSource, err)
		}
		pin = got
	default:
		return nil, fmt.Errorf("%w: no PIN source: set one of a PIN file, a PIN environment variable or a prompt", ErrPINSource)
	}
	if len(pin) == 0 {
		return nil, fmt.Errorf("%w: the PIN from the %s is empty", ErrPINSource, p.describe())
	}
	return pin, nil
}

// target is a Config resolved: the module path, what a token must match,
// and the one PIN source.
type target struct {
	module string
	match  URI    // Token, Serial, Manufacturer, Model, SlotID
	plain  string // a plain label-or-serial, when Token was not a URI
	pin    PINSource
	name   string
}

// resolve checks cfg and folds a URI in Token into it.
func resolve(cfg Config) (target, error) {
	t, err := resolveToken(cfg)
	if err != nil {
		return t, err
	}
	if n := t.pin.count(); n != 1 {
		return t, fmt.Errorf("%w: %d PIN sources given: give exactly one of a PIN file, a PIN environment variable or a prompt", ErrConfig, n)
	}
	return t, nil
}

// resolveToken is resolve without the PIN source's check.
func resolveToken(cfg Config) (target, error) {
	t := target{module: cfg.Module, pin: cfg.PIN, name: cfg.Name}
	if cfg.Token == "" {
		return t, fmt.Errorf("%w: no token given: set a token label, serial or pkcs11: URI", ErrConfig)
	}
	if IsURI(cfg.Token) {
		u, err := ParseURI(cfg.Token)
		if err != nil {
			return t, err
		}
		if u.ModulePath != "" {
			if t.module != "" && t.module != u.ModulePath {
				return t, fmt.Errorf("%w: the module is given twice and differently (%s and the URI's module-path %s): give it once",
					ErrConfig, t.module, u.ModulePath)
			}
			t.module = u.ModulePath
		}
		if u.PINSource != "" {
			if t.pin.count() > 0 {
				return t, fmt.Errorf("%w: the URI's pin-source and the %s are two PIN sources: give exactly one", ErrConfig, t.pin.describe())
			}
			t.pin = PINSource{File: u.PINSource}
		}
		t.match = u
	} else {
		t.plain = cfg.Token
	}
	if t.module == "" {
		return t, fmt.Errorf("%w: no PKCS#11 module: set the module path or a module-path in the URI", ErrConfig)
	}
	return t, nil
}
