package pcsc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ebfe/scard"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// poll is how long one GetStatusChange waits before the context is
// checked again.
const poll = 250 * time.Millisecond

// Slot is one reader: it waits for cards and carries APDUs to the card
// that is in. Safe for concurrent use.
type Slot struct {
	reader string
	// Waiting, if set, is told once when pcscd or the reader is away while
	// the slot waits for a card, and once more (nil) when it is back.
	Waiting func(err error)

	mu   sync.Mutex
	ctx  *scard.Context
	card *scard.Card
	held bool // a transaction runs for the length of a step (Hold)
}

// NewSlot returns the slot of the named reader. It connects to pcscd on
// first use.
func NewSlot(reader string) *Slot { return &Slot{reader: reader} }

// Name returns the reader's name.
func (s *Slot) Name() string { return s.reader }

// context returns the slot's PC/SC context, establishing it if needed.
func (s *Slot) contextLocked() (*scard.Context, error) {
	if s.ctx != nil {
		if ok, _ := s.ctx.IsValid(); ok {
			return s.ctx, nil
		}
		s.ctx.Release()
		s.ctx, s.card = nil, nil
	}
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, wrap("connect to pcscd", s.reader, err)
	}
	s.ctx = c
	return c, nil
}

// state reads the reader's state once, waiting up to poll for a change
// from known.
func (s *Slot) state(known scard.StateFlag) (scard.StateFlag, error) {
	s.mu.Lock()
	c, err := s.contextLocked()
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	rs := []scard.ReaderState{{Reader: s.reader, CurrentState: known}}
	err = c.GetStatusChange(rs, poll)
	if errors.Is(err, scard.ErrTimeout) {
		return known, nil
	}
	if err != nil {
		s.mu.Lock()
		s.dropLocked()
		s.mu.Unlock()
		return 0, wrap("read the reader state", s.reader, err)
	}
	return rs[0].EventState &^ scard.StateChanged, nil
}

// wait polls until cond holds for the reader state or ctx ends. While
// pcscd or the reader is away it keeps waiting (the step's deadline
// bounds the wait): a restarted pcscd lets the ceremony go on.
func (s *Slot) wait(ctx context.Context, cond func(scard.StateFlag) bool) error {
	known := scard.StateUnaware
	var away error
	for {
		st, err := s.state(known)
		if err == nil && (st&scard.StateUnknown != 0 || st&scard.StateUnavailable != 0) {
			err = &Error{Op: "wait for the reader", Reader: s.reader, Code: scard.ErrReaderUnavailable, Err: ErrReaderGone}
		}
		if errors.Is(err, ErrNoService) || errors.Is(err, ErrReaderGone) {
			if away == nil && s.Waiting != nil {
				s.Waiting(err)
			}
			away, known = err, scard.StateUnaware
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (while waiting: %v)", ctx.Err(), away)
			case <-time.After(poll):
			}
			continue
		}
		if err != nil {
			return err
		}
		if away != nil {
			away = nil
			if s.Waiting != nil {
				s.Waiting(nil)
			}
		}
		if cond(st) {
			return nil
		}
		known = st
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// WaitPresent waits until a card is in the reader.
func (s *Slot) WaitPresent(ctx context.Context) error {
	return s.wait(ctx, func(st scard.StateFlag) bool { return st&scard.StatePresent != 0 })
}

// WaitRemoved waits until the reader is empty, and forgets the card.
func (s *Slot) WaitRemoved(ctx context.Context) error {
	err := s.wait(ctx, func(st scard.StateFlag) bool { return st&scard.StateEmpty != 0 })
	s.mu.Lock()
	s.disconnectLocked()
	s.mu.Unlock()
	return err
}

// Transport carries APDUs to the card in the reader now.
func (s *Slot) Transport() openpgp.Transport { return transport{s} }

// Gone reports whether err means the card (or the reader, or pcscd) went
// away, so the card must be presented again.
func (s *Slot) Gone(err error) bool {
	return errors.Is(err, ErrNoCard) || errors.Is(err, ErrReaderGone) || errors.Is(err, ErrNoService)
}

// GoneCause says which port error a Gone error is: the PC/SC service, the
// reader, or the card.
func (s *Slot) GoneCause(err error) error {
	switch {
	case errors.Is(err, ErrNoService):
		return ceremonies.ErrServiceGone
	case errors.Is(err, ErrReaderGone):
		return ceremonies.ErrReaderGone
	}
	return ceremonies.ErrCardRemoved
}

// Close releases the PC/SC context.
func (s *Slot) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropLocked()
	return nil
}

// Hold connects to the card and begins a PC/SC transaction that lasts
// until Release, WaitRemoved or the card leaves: no other program can talk
// to the card during the ceremony's step (between two APDUs of ours).
func (s *Slot) Hold() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		return nil
	}
	if err := s.connectLocked(); err != nil {
		return err
	}
	if err := s.card.BeginTransaction(); err != nil {
		s.disconnectLocked()
		return wrap("begin a transaction", s.reader, err)
	}
	s.held = true
	return nil
}

// Release ends the transaction Hold began.
func (s *Slot) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
}

func (s *Slot) releaseLocked() {
	if s.held && s.card != nil {
		s.card.EndTransaction(scard.LeaveCard)
	}
	s.held = false
}

func (s *Slot) disconnectLocked() {
	s.releaseLocked()
	if s.card != nil {
		s.card.Disconnect(scard.LeaveCard)
		s.card = nil
	}
}

func (s *Slot) dropLocked() {
	s.disconnectLocked()
	if s.ctx != nil {
		s.ctx.Release()
		s.ctx = nil
	}
}

type transport struct{ s *Slot }

// Transmit sends one APDU inside the step's transaction (Hold), or one of
// its own; on a card that was removed or reset it drops the connection so
// the next card is connected afresh.
func (t transport) Transmit(cmd []byte) ([]byte, error) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connectLocked(); err != nil {
		return nil, err
	}
	if s.held {
		resp, err := s.card.Transmit(cmd)
		if err != nil {
			s.disconnectLocked()
			return nil, wrap("transmit", s.reader, err)
		}
		return resp, nil
	}
	if err := s.card.BeginTransaction(); err != nil {
		s.disconnectLocked()
		return nil, wrap("begin a transaction", s.reader, err)
	}
	resp, err := s.card.Transmit(cmd)
	if err != nil {
		s.card.EndTransaction(scard.LeaveCard)
		s.disconnectLocked()
		return nil, wrap("transmit", s.reader, err)
	}
	if err := s.card.EndTransaction(scard.LeaveCard); err != nil {
		s.disconnectLocked()
		return nil, wrap("end the transaction", s.reader, err)
	}
	return resp, nil
}
