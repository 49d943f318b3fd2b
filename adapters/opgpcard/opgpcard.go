// Package opgpcard is the OpenPGP-card profile behind the ceremonies' card
// ports (ARCHITECTURE.md, "Hardware"): the backup slot is PW3 and private
// DO 0104, the user slot is PW1 (reference 82). It turns any reader slot
// that can carry APDUs (the emulator's in-process reader now, PC/SC later)
// into a ceremonies.CardReader.
//
// Rules a caller must know: a Card is bound to one insertion; after the
// card leaves the reader every call returns ceremonies.ErrCardRemoved.
// Errors name the card and the operation and never hold PINs or DO bytes.
package opgpcard

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// ShareDO is the private DO that holds the backup slot's share record
// (read and write after PW3: OpenPGP card v3.4, private use DOs).
const ShareDO = 0x0104

// Slot is one reader slot that carries APDUs to the inserted card.
type Slot interface {
	Name() string
	WaitPresent(ctx context.Context) error
	WaitRemoved(ctx context.Context) error
	// Transport reaches the card inserted now.
	Transport() openpgp.Transport
	// Gone reports whether a transport error means the card left.
	Gone(err error) bool
}

// Holder is a slot that can keep the card to itself for the length of a
// step (a PC/SC transaction); the slot ends it when the card leaves.
type Holder interface {
	Hold() error
	Release()
}

// Reader implements ceremonies.CardReader on a Slot.
type Reader struct {
	slot  Slot
	class string
}

// NewReader wraps slot; class says how PINs are entered ("host-pinpad"
// when the PIN comes through the host's PIN pad port).
func NewReader(slot Slot, class string) *Reader { return &Reader{slot: slot, class: class} }

// Name implements ceremonies.CardReader.
func (r *Reader) Name() string { return r.slot.Name() }

// Class implements ceremonies.CardReader: "class3-pinpad" when the
// reader offers FEATURE_VERIFY_PIN_DIRECT (asked through the card in it),
// else the class given to NewReader.
func (r *Reader) Class() string {
	if _, _, ok := pinPad(r.slot); ok {
		return "class3-pinpad"
	}
	return r.class
}

// WaitRemoved implements ceremonies.CardReader.
func (r *Reader) WaitRemoved(ctx context.Context) error { return r.slot.WaitRemoved(ctx) }

// WaitCard waits for a card, selects the OpenPGP application and reads
// the serial from the AID.
func (r *Reader) WaitCard(ctx context.Context) (ceremonies.Card, error) {
	if err := r.slot.WaitPresent(ctx); err != nil {
		return nil, err
	}
	if h, ok := r.slot.(Holder); ok {
		// The card is ours for the step: until it leaves the reader.
		if err := h.Hold(); err != nil {
			return nil, fmt.Errorf("reader %s: %w", r.slot.Name(), err)
		}
	}
	c := &Card{slot: r.slot, client: openpgp.NewClient(r.slot.Transport())}
	if err := c.client.Select(); err != nil {
		if errors.Is(err, openpgp.ErrTerminated) {
			return nil, fmt.Errorf("the card in reader %s: %w", r.slot.Name(), ceremonies.ErrCardTerminated)
		}
		return nil, c.wrap("select the OpenPGP application (is this an OpenPGP card?)", err)
	}
	aid, err := c.client.AID()
	if err != nil {
		return nil, c.wrap("read the AID", err)
	}
	c.serial = aid.SerialString()
	return c, nil
}

// Card is one inserted OpenPGP card.
type Card struct {
	slot   Slot
	client *openpgp.Client
	serial string
}

func ref(s ceremonies.Slot) openpgp.PINRef {
	if s == ceremonies.UserSlot {
		return openpgp.PW1
	}
	return openpgp.PW3
}

// Serial implements ceremonies.Card.
func (c *Card) Serial() string { return c.serial }

// PINName implements ceremonies.Card.
func (c *Card) PINName(s ceremonies.Slot) string {
	if s == ceremonies.UserSlot {
		return "PW1"
	}
	return "PW3"
}

// PINTries reads the retry counter without spending a try: VERIFY with no
// data, then the PW status bytes (DO C4) when the PIN is already verified.
func (c *Card) PINTries(s ceremonies.Slot) (int, error) {
	tries, verified, err := c.client.RetriesLeft(ref(s))
	if err != nil {
		return 0, c.wrap("read the retry counter", err)
	}
	if !verified {
		return tries, nil
	}
	st, err := c.client.PWStatus()
	if err != nil {
		return 0, c.wrap("read the PW status bytes", err)
	}
	if s == ceremonies.UserSlot {
		return st.TriesPW1, nil
	}
	return st.TriesPW3, nil
}

// VerifyPIN implements ceremonies.Card.
func (c *Card) VerifyPIN(s ceremonies.Slot, pin []byte) error {
	err := c.client.Verify(ref(s), pin)
	var wrong *openpgp.WrongPINError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &wrong):
		return &ceremonies.WrongPINError{TriesLeft: wrong.TriesLeft}
	case errors.Is(err, openpgp.ErrPINBlocked):
		return fmt.Errorf("card %s: %w", c.serial, ceremonies.ErrPINBlocked)
	}
	return c.wrap("verify "+c.PINName(s), err)
}

// ReadShare implements ceremonies.Card.
func (c *Card) ReadShare() ([]byte, error) {
	b, err := c.client.ReadPrivateDO(ShareDO)
	if errors.Is(err, openpgp.ErrNotFound) || (err == nil && len(b) == 0) {
		return nil, fmt.Errorf("card %s: DO 0104: %w", c.serial, ceremonies.ErrNoData)
	}
	if err != nil {
		return nil, c.wrap("read DO 0104", err)
	}
	return b, nil
}

// WriteShare implements ceremonies.Card.
func (c *Card) WriteShare(record []byte) error {
	if err := c.client.WritePrivateDO(ShareDO, record); err != nil {
		return c.wrap("write DO 0104", err)
	}
	return nil
}

// GoneCauser is a Slot that tells why a card is gone: the card left
// (ceremonies.ErrCardRemoved), the reader (ceremonies.ErrReaderGone) or
// the PC/SC service (ceremonies.ErrServiceGone) went away.
type GoneCauser interface {
	GoneCause(err error) error
}

func goneCause(s Slot, err error) error {
	if gc, ok := s.(GoneCauser); ok {
		return gc.GoneCause(err)
	}
	return ceremonies.ErrCardRemoved
}

func (c *Card) wrap(op string, err error) error {
	name := c.serial
	if name == "" {
		name = "in " + c.slot.Name()
	}
	if c.slot.Gone(err) {
		return fmt.Errorf("card %s: %s: %w", name, op, goneCause(c.slot, err))
	}
	return fmt.Errorf("card %s: %s: %w", name, op, err)
}
