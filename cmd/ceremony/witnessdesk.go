package main

import (
	"context"
	"fmt"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// terminalDesk takes witness sign-offs on the terminal: name, role and,
// optionally, the witness's own Ed25519 key file to sign with (as
// 'ceremony witness --key-file').
type terminalDesk struct{ t *pinpad.Terminal }

func (d terminalDesk) AskWitness(ctx context.Context, n, of int) (ceremonies.WitnessAnswer, error) {
	var a ceremonies.WitnessAnswer
	var err error
	if a.Name, err = d.t.Ask(ctx, fmt.Sprintf("  Witness %d of %d, name: ", n, of)); err != nil {
		return a, err
	}
	if a.Role, err = d.t.Ask(ctx, "  Witness role (e.g. auditor): "); err != nil || a.Name == "" || a.Role == "" {
		return a, err
	}
	file, err := d.t.Ask(ctx, "  Witness key file to sign with (Enter: unsigned): ")
	if err != nil || file == "" {
		return a, err
	}
	a.Sign = func(msg []byte) ([]byte, []byte, error) {
		s, _, err := keyfile.LoadOrCreate(file)
		if err != nil {
			return nil, nil, fmt.Errorf("witness key file %s: %w", file, err)
		}
		sig, err := s.Sign(msg)
		if err != nil {
			return nil, nil, fmt.Errorf("witness key file %s: sign: %w", file, err)
		}
		return s.Public(), sig, nil
	}
	return a, nil
}
