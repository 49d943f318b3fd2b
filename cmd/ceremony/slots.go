package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
)

// pkcs11Slots is the PKCS#11 slot a user card stands for: a login opens
// the token with the credential the card unsealed.
type pkcs11Slots struct {
	name string
	cfg  pkcs11hsm.Config
}

// slotsFrom names the slot as the operator gave the token (a URI as is,
// a label or serial as pkcs11:token=...): enrol and activate must name it
// the same way, since the card's sealed credential is bound to the name.
func (h *hsmFlags) slots() (pkcs11Slots, error) {
	if h.kind != "pkcs11" || h.token == "" {
		return pkcs11Slots{}, usagef("user cards activate a PKCS#11 slot: give --hsm pkcs11 --pkcs11-token ...")
	}
	name := h.token
	if !pkcs11hsm.IsURI(name) {
		name = "pkcs11:token=" + name
	}
	return pkcs11Slots{name: name, cfg: pkcs11hsm.Config{Module: h.module, Token: h.token, Name: name}}, nil
}

func (s pkcs11Slots) Name() string { return s.name }

func (s pkcs11Slots) Login(ctx context.Context, credential []byte) (io.Closer, error) {
	cfg := s.cfg
	cfg.PIN = pkcs11hsm.PINSource{Prompt: func() ([]byte, error) { return credential, nil }}
	return pkcs11hsm.Open(ctx, cfg)
}

// readCredential reads the slot credential to seal at enrolment from the
// --pkcs11-pin-file or --pkcs11-pin-env (never a flag value).
func (h *hsmFlags) readCredential() ([]byte, error) {
	switch {
	case h.pinFile != "" && h.pinEnv != "":
		return nil, usagef("give the slot credential one way: --pkcs11-pin-file or --pkcs11-pin-env")
	case h.pinFile != "":
		b, err := os.ReadFile(h.pinFile)
		if err != nil {
			return nil, fmt.Errorf("read the slot credential: %w", err)
		}
		// The file's bytes themselves, line end cut: no string copy of
		// the credential is made (the runner wipes what it gets).
		return bytes.TrimRight(b, "\r\n"), nil
	case h.pinEnv != "":
		v, ok, err := secret.TakeEnv(h.pinEnv) // unset and wiped from /proc/PID/environ
		if err != nil {
			return nil, fmt.Errorf("read the slot credential: %w", err)
		}
		if !ok || len(v) == 0 {
			return nil, usagef("--pkcs11-pin-env %s: the variable is not set", h.pinEnv)
		}
		return v, nil
	}
	return nil, usagef("user enrol seals the slot's user PIN to the card: give it with --pkcs11-pin-file or --pkcs11-pin-env")
}
