package rehearsal

import (
	"context"
	"errors"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
)

// NewReader returns an emulated in-process reader and the ceremony port on
// it (OpenPGP-card profile, PIN typed on the host's PIN pad port).
func NewReader(name string) (*cardemu.Reader, *opgpcard.Reader) {
	r := cardemu.NewReader(name)
	return r, opgpcard.NewReader(emuSlot{r}, "host-pinpad")
}

// emuSlot adapts the emulator's reader to opgpcard.Slot.
type emuSlot struct{ r *cardemu.Reader }

func (s emuSlot) Name() string                          { return s.r.Name() }
func (s emuSlot) Transport() openpgp.Transport          { return s.r.Transport() }
func (s emuSlot) WaitRemoved(ctx context.Context) error { return s.r.WaitRemoved(ctx) }

func (s emuSlot) WaitPresent(ctx context.Context) error {
	_, err := s.r.Wait(ctx)
	return err
}

func (s emuSlot) Gone(err error) bool {
	return errors.Is(err, cardemu.ErrCardRemoved) || errors.Is(err, cardemu.ErrNoCard)
}
