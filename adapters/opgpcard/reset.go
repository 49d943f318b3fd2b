package opgpcard

import (
	"errors"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
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
