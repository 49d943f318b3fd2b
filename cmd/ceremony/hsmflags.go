package main

import (
	"context"
	"fmt"

	"github.com/ceremony-hsm/ceremony/adapters/memhsm"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
	"github.com/spf13/pflag"
)

// hsmFlags choose the HSM a ceremony loads the Backup Key into. The token
// PIN comes from a file, an environment variable or a prompt: never from
// a flag value, so it stays out of shell history and process lists.
type hsmFlags struct {
	kind    string
	module  string
	token   string
	pinFile string
	pinEnv  string
	envPIN  *secret.Buffer // the PIN taken out of --pkcs11-pin-env's variable
}

func (h *hsmFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&h.kind, "hsm", "soft", "HSM: soft (in-memory software HSM, for rehearsals) or pkcs11")
	fs.StringVar(&h.module, "pkcs11-module", "", "PKCS#11 module path, e.g. /usr/lib/softhsm/libsofthsm2.so (or module-path in --pkcs11-token's URI)")
	fs.StringVar(&h.token, "pkcs11-token", "", "token label, serial or PKCS#11 URI (RFC 7512), e.g. pkcs11:token=ceremony")
	fs.StringVar(&h.pinFile, "pkcs11-pin-file", "", "file holding the token PIN")
	fs.StringVar(&h.pinEnv, "pkcs11-pin-env", "", "environment variable holding the token PIN")
}

// open returns the HSM and a function that closes it. pad, if not nil,
// asks for the token PIN when no file or variable is given.
func (h *hsmFlags) open(ctx context.Context, pad ceremonies.PinPad) (ceremonies.HSM, func(), error) {
	switch h.kind {
	case "soft":
		if h.module != "" || h.token != "" || h.pinFile != "" || h.pinEnv != "" {
			return nil, nil, usagef("--pkcs11-* flags need --hsm pkcs11")
		}
		return memhsm.New("software-hsm"), func() {}, nil
	case "pkcs11":
	default:
		return nil, nil, usagef("--hsm %q: use soft or pkcs11", h.kind)
	}
	if h.token == "" {
		return nil, nil, usagef("--hsm pkcs11 needs --pkcs11-token (label, serial or pkcs11: URI)")
	}
	if h.pinFile != "" && h.pinEnv != "" {
		return nil, nil, usagef("give the token PIN one way: --pkcs11-pin-file or --pkcs11-pin-env, not both")
	}
	src := pkcs11hsm.PINSource{File: h.pinFile}
	if h.pinEnv != "" {
		// Taken out of the environment and /proc/PID/environ at the first
		// open and kept in locked memory for the next ones (rehearse opens
		// the HSM once per kind).
		if h.envPIN == nil {
			v, ok, err := secret.TakeEnv(h.pinEnv)
			if err != nil {
				return nil, nil, fmt.Errorf("read the token PIN: %w", err)
			}
			if !ok || len(v) == 0 {
				return nil, nil, usagef("--pkcs11-pin-env %s: the variable is not set or empty: export it with the token PIN, or use --pkcs11-pin-file", h.pinEnv)
			}
			if h.envPIN, err = secret.Copy(v); err != nil {
				return nil, nil, fmt.Errorf("keep the token PIN: %w", err)
			}
		}
		src.Prompt = func() ([]byte, error) { return append([]byte(nil), h.envPIN.Bytes()...), nil }
	}
	if h.pinFile == "" && h.pinEnv == "" {
		if pad == nil {
			return nil, nil, usagef("give the token PIN with --pkcs11-pin-file or --pkcs11-pin-env (no terminal to ask it on)")
		}
		src.Prompt = func() ([]byte, error) { return pad.EnterPIN(ctx, "Token PIN", h.token) }
	}
	hsm, err := pkcs11hsm.Open(ctx, pkcs11hsm.Config{Module: h.module, Token: h.token, PIN: src})
	if err != nil {
		return nil, nil, fmt.Errorf("open the HSM: %w", err)
	}
	return hsm, func() { hsm.Close() }, nil
}
