package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// terminalDesk takes witness sign-offs on the terminal: name, role and,
// optionally, the witness's own Ed25519 key file to sign with (as
// 'ceremony witness --key-file'). It keeps the key files that signed, to
// co-sign the checkpoint of the ceremony's end with them (cosignDesk).
type terminalDesk struct {
	t      *pinpad.Terminal
	signed []string
}

func (d *terminalDesk) AskWitness(ctx context.Context, n, of int) (ceremonies.WitnessAnswer, error) {
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
		d.signed = append(d.signed, file)
		return s.Public(), sig, nil
	}
	return a, nil
}

// cosignDesk co-signs, with each key file that signed a sign-off at the
// station's desk, the checkpoint written at the end of ceremony id.
func (b *bench) cosignDesk(ctx context.Context, out io.Writer, id string) {
	d, ok := b.station.Witnesses.(*terminalDesk)
	if !ok {
		return
	}
	for _, f := range d.signed {
		if err := b.app.cosignAsWitness(ctx, out, f, id, 0); err != nil {
			fmt.Fprintf(out, "WARNING: the sign-off with %s is recorded, the checkpoint is not co-signed: %v\n", f, err)
		}
	}
	d.signed = nil
}
