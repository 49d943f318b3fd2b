package pcsc

import (
	"errors"

	"github.com/ebfe/scard"

	"github.com/ceremony-hsm/ceremony/adapters/pcsc/part10"
)

// Features asks the reader, through the card's connection, which PC/SC
// part 10 features it offers (CM_IOCTL_GET_FEATURE_REQUEST). A reader
// that answers "unsupported" (vpcd, plain readers) offers none.
func (s *Slot) Features() (part10.Features, error) {
	resp, err := s.Control(part10.CMIoctlGetFeatureRequest, nil)
	if errors.Is(err, scard.ErrUnsupportedFeature) || errors.Is(err, scard.ErrNotTransacted) || errors.Is(err, scard.ErrInvalidParameter) {
		return part10.Features{}, nil
	}
	var pe *Error
	if errors.As(err, &pe) && (pe.Code == scard.ErrUnsupportedFeature || pe.Code == scard.ErrNotTransacted || pe.Code == scard.ErrInvalidParameter) {
		return part10.Features{}, nil
	}
	if err != nil {
		return part10.Features{}, err
	}
	return part10.ParseFeatures(resp)
}

// Control sends an SCardControl to the reader through the card's
// connection (connecting if needed). The input may be a PIN structure:
// it holds no PIN, the reader's keypad fills it in.
func (s *Slot) Control(ioctl uint32, in []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connectLocked(); err != nil {
		return nil, err
	}
	out, err := s.card.Control(ioctl, in)
	if err != nil {
		var code scard.Error
		if errors.As(err, &code) && classify(code) == ErrNoCard {
			s.disconnectLocked()
		}
		return nil, wrap("reader control", s.reader, err)
	}
	return out, nil
}

// connectLocked connects to the card in the reader if not connected.
func (s *Slot) connectLocked() error {
	if s.card != nil {
		return nil
	}
	c, err := s.contextLocked()
	if err != nil {
		return err
	}
	card, err := c.Connect(s.reader, scard.ShareShared, scard.ProtocolT1)
	if err != nil {
		return wrap("connect to the card", s.reader, err)
	}
	s.card = card
	return nil
}
