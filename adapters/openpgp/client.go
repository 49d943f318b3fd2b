package openpgp

import (
	"fmt"
	"sync"
)

// Transport sends one command APDU and returns the full response APDU
// (data || SW1 SW2). It must not keep cmd after returning: the Client zeroes
// it, since it may hold a PIN. The response must be a buffer of its own
// for each call: the Client zeroes its data once copied, since it may hold
// a share.
type Transport interface {
	Transmit(cmd []byte) ([]byte, error)
}

// maxGetResponse bounds the GET RESPONSE loop, so a faulty card answering
// 61xx forever cannot hold a Client: 64 × 256 bytes is far above any DO used
// here.
const maxGetResponse = 64

// Client runs OpenPGP card commands over a Transport. It is safe for
// concurrent use; see the package documentation for what it does not protect.
type Client struct {
	mu sync.Mutex
	t  Transport
}

// NewClient returns a Client sending its commands over t.
func NewClient(t Transport) *Client {
	return &Client{t: t}
}

// Select selects the OpenPGP application (OpenPGP card v3.4 §7.2.1 SELECT).
// Call it after every power-on or reset of the card.
func (c *Client) Select() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.run("SELECT OpenPGP application", EncodeSelect(), 0)
	return err
}

// AID reads and decodes DO 4F (OpenPGP card v3.4 §4.2.1).
func (c *Client) AID() (AID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	const op = "GET DATA 4F"
	data, err := c.run(op, EncodeGetData(0x004F), 0)
	if err != nil {
		return AID{}, err
	}
	aid, err := ParseAID(data)
	if err != nil {
		return AID{}, fmt.Errorf("openpgp: %s: %w", op, err)
	}
	return aid, nil
}

// PWStatus reads and decodes DO C4, the PW status bytes (v3.4 §4.4.1).
func (c *Client) PWStatus() (PWStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pwStatus()
}

func (c *Client) pwStatus() (PWStatus, error) {
	const op = "GET DATA C4"
	data, err := c.run(op, EncodeGetData(0x00C4), 0)
	if err != nil {
		return PWStatus{}, err
	}
	st, err := ParsePWStatus(data)
	if err != nil {
		return PWStatus{}, fmt.Errorf("openpgp: %s: %w", op, err)
	}
	return st, nil
}

// RetriesLeft asks the card, with a VERIFY carrying no data (OpenPGP card
// v3.4 §7.2.2), whether ref is verified and how many tries are left. It
// never spends a try. The card answers 9000 when ref is verified (the tries
// are then read from DO C4) and 63Cx (x tries left) when it is not; 6983
// (blocked) gives tries 0 and no error.
func (c *Client) RetriesLeft(ref PINRef) (tries int, verified bool, err error) {
	op := "VERIFY " + ref.String() + " (retry counter query)"
	cmd, err := EncodeVerify(ref, nil)
	if err != nil {
		return 0, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, sw, err := c.transceive(op, cmd)
	if err != nil {
		return 0, false, err
	}
	switch {
	case sw == SWSuccess:
		st, err := c.pwStatus()
		if err != nil {
			return 0, true, err
		}
		return st.tries(ref), true, nil
	case sw&0xFFF0 == 0x63C0:
		return int(sw & 0x000F), false, nil
	case sw == 0x6983:
		return 0, false, nil
	default:
		return 0, false, statusError(sw, op, ref)
	}
}

// Verify presents pin for ref (OpenPGP card v3.4 §7.2.2 VERIFY). A wrong PIN
// spends a try and returns a *CardError wrapping a *WrongPINError. An empty
// pin is refused: use RetriesLeft to query the status.
func (c *Client) Verify(ref PINRef, pin []byte) error {
	op := "VERIFY " + ref.String()
	if len(pin) == 0 {
		return fmt.Errorf("openpgp: %s: %w: empty PIN (use RetriesLeft to query the retry counter)", op, ErrInvalidArgument)
	}
	cmd, err := EncodeVerify(ref, pin)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.run(op, cmd, ref)
	return err
}

// ClearVerification resets the verification status of ref on the card
// (VERIFY with P1=FF, OpenPGP card v3.4 §7.2.2).
func (c *Client) ClearVerification(ref PINRef) error {
	cmd, err := EncodeClearVerification(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.run("VERIFY "+ref.String()+" (clear status)", cmd, ref)
	return err
}

// ReadPrivateDO reads the private use DO tag, 0101 to 0104 (OpenPGP card
// v3.4 §7.2.6 GET DATA). 0103 needs PW1 (82) verified, 0104 needs PW3.
func (c *Client) ReadPrivateDO(tag uint16) ([]byte, error) {
	op := "GET DATA " + tagName(tag)
	if err := checkPrivateTag(op, tag); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.run(op, EncodeGetData(tag), 0)
}

// WritePrivateDO replaces the private use DO tag, 0101 to 0104, with data of
// at most 255 bytes (OpenPGP card v3.4 §7.2.8 PUT DATA). 0101 and 0103 need
// PW1 (82) verified, 0102 and 0104 need PW3. Empty data empties the DO.
func (c *Client) WritePrivateDO(tag uint16, data []byte) error {
	op := "PUT DATA " + tagName(tag)
	if err := checkPrivateTag(op, tag); err != nil {
		return err
	}
	cmd, err := EncodePutData(tag, data)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.run(op, cmd, 0)
	return err
}

// ChangePIN replaces the PIN ref (OpenPGP card v3.4 §7.2.3 CHANGE REFERENCE
// DATA). PW1 and PW1Sign both name PW1, which the card changes under
// reference 81. A wrong old PIN spends a try. On success the card resets the
// retry counter and clears the verification of that PIN.
func (c *Client) ChangePIN(ref PINRef, oldPIN, newPIN []byte) error {
	cardRef, name := ref, ref.String()
	switch ref {
	case PW1, PW1Sign:
		cardRef, name = PW1Sign, "PW1"
	}
	op := "CHANGE REFERENCE DATA " + name
	if len(oldPIN) == 0 || len(newPIN) == 0 {
		return fmt.Errorf("openpgp: %s: %w: the old and the new PIN must not be empty", op, ErrInvalidArgument)
	}
	cmd, err := EncodeChangeReferenceData(cardRef, oldPIN, newPIN)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.run(op, cmd, cardRef)
	return err
}

func checkPrivateTag(op string, tag uint16) error {
	if tag < 0x0101 || tag > 0x0104 {
		return fmt.Errorf("openpgp: %s: %w: tag %04X is not a private use DO (0101 to 0104)", op, ErrInvalidArgument, tag)
	}
	return nil
}

// run sends cmd and returns the response data when the card answers 9000,
// else the error for the status word. ref names the PIN for 63Cx.
func (c *Client) run(op string, cmd []byte, ref PINRef) ([]byte, error) {
	data, sw, err := c.transceive(op, cmd)
	if err != nil {
		return nil, err
	}
	if err := statusError(sw, op, ref); err != nil {
		clear(data)
		return nil, err
	}
	return data, nil
}

// transceive sends cmd, handles 6Cxx (re-send with Le=xx) and 61xx (GET
// RESPONSE until done; ISO 7816-4 §7.6.1 GET RESPONSE) and returns the
// collected data and the final status word. It zeroes cmd before returning.
func (c *Client) transceive(op string, cmd []byte) ([]byte, uint16, error) {
	defer clear(cmd)
	data, sw, err := c.send(op, cmd)
	if err != nil {
		return nil, 0, err
	}
	if sw&0xFF00 == 0x6C00 {
		retry, err := withLe(cmd, byte(sw))
		if err != nil {
			return nil, 0, fmt.Errorf("openpgp: %s: card answered SW %04X: %w", op, sw, err)
		}
		clear(data)
		data, sw, err = c.send(op, retry)
		clear(retry)
		if err != nil {
			return nil, 0, err
		}
	}
	// The response's data is copied, then wiped where the transport put
	// it: it may be a share record or other card data a caller wipes.
	out := append([]byte(nil), data...)
	clear(data)
	for i := 0; sw&0xFF00 == 0x6100; i++ {
		if i == maxGetResponse {
			clear(out)
			return nil, 0, fmt.Errorf("openpgp: %s: %w: card still answers 61xx after %d GET RESPONSE commands", op, ErrMalformedResponse, maxGetResponse)
		}
		getResponse := EncodeGetResponse(byte(sw))
		data, sw, err = c.send(op, getResponse)
		clear(getResponse)
		if err != nil {
			clear(out)
			return nil, 0, err
		}
		out = append(out, data...)
		clear(data)
	}
	return out, sw, nil
}

// send transmits one command APDU and splits the answer.
func (c *Client) send(op string, cmd []byte) ([]byte, uint16, error) {
	resp, err := c.t.Transmit(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("openpgp: %s: %w", op, err)
	}
	data, sw, err := ParseResponse(resp)
	if err != nil {
		return nil, 0, fmt.Errorf("openpgp: %s: %w", op, err)
	}
	return data, sw, nil
}
