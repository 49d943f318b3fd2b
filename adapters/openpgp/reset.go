package openpgp

import "fmt"

// Instruction bytes of the commands that reset a card or a PIN (OpenPGP
// card v3.4 §7.2.4 RESET RETRY COUNTER, §7.2.16 TERMINATE DF, §7.2.17
// ACTIVATE FILE).
const (
	insResetRetry = 0x2C
	insTerminate  = 0xE6
	insActivate   = 0x44
)

// EncodeTerminate encodes TERMINATE DF: 00 E6 00 00 (v3.4 §7.2.16). The
// card accepts it after PW3 is verified, or when PW3 is blocked; else 6985.
func EncodeTerminate() []byte { return []byte{0x00, insTerminate, 0x00, 0x00} }

// EncodeActivate encodes ACTIVATE FILE: 00 44 00 00 (v3.4 §7.2.17). A
// terminated application goes back to its factory state; an operational
// one answers 9000 and changes nothing.
func EncodeActivate() []byte { return []byte{0x00, insActivate, 0x00, 0x00} }

// EncodeResetRetryCounter encodes RESET RETRY COUNTER of PW1 with P1=02:
// the new PW1 as data, allowed after PW3 is verified (v3.4 §7.2.4). The
// card sets PW1 and its retry counter back to the maximum.
func EncodeResetRetryCounter(newPW1 []byte) ([]byte, error) {
	if len(newPW1) == 0 {
		return nil, fmt.Errorf("openpgp: RESET RETRY COUNTER PW1: %w: empty new PIN", ErrInvalidArgument)
	}
	return encodeWithData("RESET RETRY COUNTER PW1", []byte{0x00, insResetRetry, 0x02, byte(PW1Sign)}, newPW1)
}

// Terminate sends TERMINATE DF (v3.4 §7.2.16): after it the card answers
// only SELECT (6285, ErrTerminated) and ACTIVATE FILE. It needs PW3
// verified in this session, or PW3 blocked: otherwise a *CardError
// wrapping ErrConditionsNotSatisfied.
func (c *Client) Terminate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.run("TERMINATE DF", EncodeTerminate(), 0)
	return err
}

// Activate sends ACTIVATE FILE (v3.4 §7.2.17): a terminated card is reset
// to its factory state (every DO and key erased, PW1 and PW3 back to
// their defaults, counters at the maximum); an operational card is left
// as it is.
func (c *Client) Activate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.run("ACTIVATE FILE", EncodeActivate(), 0)
	return err
}

// ResetRetryCounter sets PW1 to newPW1 and its retry counter to the
// maximum, with PW3 verified in this session (RESET RETRY COUNTER, P1=02,
// v3.4 §7.2.4): a blocked PW1 is usable again. Without PW3 verified the
// card answers 6982 (ErrSecurityStatus).
func (c *Client) ResetRetryCounter(newPW1 []byte) error {
	cmd, err := EncodeResetRetryCounter(newPW1)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.run("RESET RETRY COUNTER PW1", cmd, PW1Sign)
	return err
}
