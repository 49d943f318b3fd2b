package opgpcard

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// ResetToFactory puts the card back to its factory state: TERMINATE DF,
// ACTIVATE FILE, then SELECT again (OpenPGP card v3.4 §7.2.16-17). The
// share DO, the user key and the sealed credential are erased; both PINs
// are the default again. It needs PW3 verified in this session, or PW3
// blocked.
func (c *Card) ResetToFactory() error {
	if err := c.client.Terminate(); err != nil {
		if errors.Is(err, openpgp.ErrConditionsNotSatisfied) {
			return c.wrap("terminate the OpenPGP application (verify PW3 first, or it must be blocked)", err)
		}
		return c.wrap("terminate the OpenPGP application", err)
	}
	if err := c.client.Activate(); err != nil {
		return c.wrap("activate the OpenPGP application after terminating it (the card stays terminated until it is activated)", err)
	}
	if err := c.client.Select(); err != nil {
		return c.wrap("select the OpenPGP application after the reset", err)
	}
	return nil
}

// ResetUserPIN sets the user slot's PIN (PW1) and its retry counter with
// the admin PIN verified in this session (RESET RETRY COUNTER P1=02,
// OpenPGP card v3.4 §7.2.4): a blocked PW1 is usable again.
func (c *Card) ResetUserPIN(newPIN []byte) error {
	if err := c.client.ResetRetryCounter(newPIN); err != nil {
		if errors.Is(err, openpgp.ErrSecurityStatus) {
			return c.wrap("reset PW1 (the backup slot's PIN, PW3, must be verified first)", err)
		}
		return c.wrap("reset PW1", err)
	}
	return nil
}

// ActivateCard waits for a card and, when its OpenPGP application is
// terminated (a reset that stopped between TERMINATE DF and ACTIVATE
// FILE), activates it: the card is then in its factory state (OpenPGP
// card v3.4 §7.2.17). Activation loses nothing the termination had not
// made unreadable already. An operational card is returned as WaitCard
// returns it.
func (r *Reader) ActivateCard(ctx context.Context) (ceremonies.Card, error) {
	if err := r.slot.WaitPresent(ctx); err != nil {
		return nil, err
	}
	if h, ok := r.slot.(Holder); ok {
		if err := h.Hold(); err != nil {
			return nil, fmt.Errorf("reader %s: %w", r.slot.Name(), err)
		}
	}
	c := &Card{slot: r.slot, client: openpgp.NewClient(r.slot.Transport())}
	err := c.client.Select()
	if errors.Is(err, openpgp.ErrTerminated) {
		if err := c.client.Activate(); err != nil {
			return nil, c.wrap("activate the terminated OpenPGP application", err)
		}
		err = c.client.Select()
	}
	if err != nil {
		return nil, c.wrap("select the OpenPGP application", err)
	}
	aid, err := c.client.AID()
	if err != nil {
		return nil, c.wrap("read the AID", err)
	}
	c.serial = aid.SerialString()
	return c, nil
}
