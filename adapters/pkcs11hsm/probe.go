package pkcs11hsm

import (
	"errors"
	"fmt"
)

// Probe loads the module of cfg and finds the one token cfg.Token names,
// without opening a session or logging in: what a station check does
// before the day. The PIN source is not read. It returns the token's
// label and serial number.
func Probe(cfg Config) (label, serial string, err error) {
	t, err := resolveToken(cfg)
	if err != nil {
		return "", "", fmt.Errorf("pkcs11hsm: probe: %w", err)
	}
	m, err := acquireModule(t.module)
	if err != nil {
		return "", "", fmt.Errorf("pkcs11hsm: probe: %w", err)
	}
	defer func() {
		if rerr := m.release(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	_, info, err := findToken(m, t, cfg.Token)
	if err != nil {
		return "", "", fmt.Errorf("pkcs11hsm: probe: %w", err)
	}
	return info.Label, info.SerialNumber, nil
}
